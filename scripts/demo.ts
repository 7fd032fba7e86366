/**
 * The snap2s3 demo: a throwaway loop-mounted btrfs backed up to a local
 * directory over several update cycles under a seconds-level policy, the
 * backup tree listed, the newest snapshot restored into a second btrfs, and
 * every file compared. Needs root (loop mounts, btrfs send and receive).
 *
 *     deno task demo
 */

import {
  btrfs,
  defineConfig,
  listBackups,
  localDir,
  restore,
  update,
  zstd,
} from "../mod.ts";
import { renderBackupListing } from "../lib/app/commands/list_backups.ts";
import { consoleOutput } from "../lib/app/output.ts";
import { createBtrfs } from "../tests/fixtures/btrfs.ts";
import { run } from "../tests/fixtures/process.ts";
import { randomBytes, treeSums } from "../tests/fixtures/data.ts";

const CYCLES = 5;

async function demo(): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error(
      "the demo needs root (loop mounts, btrfs send and receive): run it as root, e.g. sudo deno task demo",
    );
    return 1;
  }
  const out = consoleOutput();
  await using source = await createBtrfs({ sizeMiB: 1024 });
  await using target = await createBtrfs({ sizeMiB: 1024 });
  const remoteDir = await Deno.makeTempDir({ prefix: "snap2s3-demo-remote-" });
  try {
    const data = `${source.mountPoint}/data`;
    await run(["btrfs", "subvolume", "create", data]);
    const config = defineConfig({
      timezone: "UTC",
      remotes: [localDir({ id: "local", path: remoteDir })],
      sources: [btrfs({
        path: data,
        snapshots: `${source.mountPoint}/snapshots`,
        // One hourly, two minutelies, three secondlies: a small tree that changes every cycle.
        upload: [{
          remote: "local",
          preserve: "1h 2M 3s",
          pipe: [zstd({ level: 3 })],
        }],
      })],
    });
    out.print(`source ${data}, remote ${remoteDir}, policy "1h 2M 3s"`);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await Deno.mkdir(`${data}/cycle-${cycle}`);
      await Deno.writeFile(
        `${data}/cycle-${cycle}/random.bin`,
        randomBytes(4 << 20),
      );
      await Deno.writeTextFile(`${data}/log.txt`, `cycle ${cycle}\n`, {
        append: true,
      });
      if (cycle > 2) {
        await Deno.remove(`${data}/cycle-${cycle - 2}`, { recursive: true });
      }
      out.print(`\n=== update ${cycle} of ${CYCLES} ===`);
      const result = await update(config, { force: true, output: out });
      out.print(result.summary);
      if (!result.ok) return 1;
      await new Promise((r) => setTimeout(r, 1100));
    }
    out.print(
      "\n=== a run with no new writes: only time moved on, so old secondlies expire ===",
    );
    const again = await update(config, { force: true, output: out });
    out.print(again.summary);

    out.print("\n=== list-backups ===");
    const listing = await listBackups(config, "local");
    out.print(renderBackupListing(listing));

    const newest = listing.sources[0].backups.toSorted((a, b) =>
      b.ctransid - a.ctransid
    )[0];
    out.print(
      `\n=== restore the newest snapshot (${newest.ctime}) into a second btrfs ===`,
    );
    const restored = await restore(config, {
      dest: target.mountPoint,
      remote: "local",
      uuid: newest.uuid,
      output: out,
    });
    const received = restored.received.at(-1)!;
    const snapshot =
      (await Array.fromAsync(Deno.readDir(`${source.mountPoint}/snapshots`)))
        .map((e) => `${source.mountPoint}/snapshots/${e.name}`)
        .find((p) => p.endsWith(`.${newest.ctransid}`))!;
    const want = await treeSums(snapshot);
    const got = await treeSums(received.path);
    const same = JSON.stringify(want) === JSON.stringify(got);
    out.print(
      `compared ${
        Object.keys(want).length
      } files of ${snapshot} with ${received.path}: ${
        same ? "identical" : "DIFFERENT"
      }`,
    );
    out.print(same ? "\ndemo passed" : "\ndemo FAILED");
    return same ? 0 : 1;
  } finally {
    await Deno.remove(remoteDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await demo());
