/**
 * Clean start for real (loop btrfs, local-directory remote, the library's
 * update): what killed runs left is shown, then destroyed, adopted or
 * aborted; what belongs to others is left alone.
 */
import assert from "node:assert/strict";
import { update } from "../mod.ts";
import type { ConfigInput } from "../mod.ts";
import { encodeKey } from "../lib/core/keys.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/driver.ts";
import { localDirRemote } from "../lib/drivers/remote/local_dir.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

/** A process id that is not running any more. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test({
  name:
    "clean start: a stale .NEW. copy is destroyed, a stale .NEW. snapshot adopted, a stale partial file deleted, others' left alone",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const backups = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(backups);
    await Deno.writeFile(`${data}/a.bin`, randomBytes(1 << 20));
    const config: ConfigInput = {
      timezone: "UTC",
      remotes: [{ kind: "local", id: "usb", path: backups }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: snaps,
        upload: [{ remote: "usb", preserve: "1y 30d 24h" }],
      }],
    };
    const first = await update(config, { force: true });
    assert.ok(first.ok, first.summary);
    const [kept] = await names(snaps);
    // A run killed after its snapshot, before the rename: a copy of `kept`.
    const copyPid = await deadPid();
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      data,
      `${snaps}/data.NEW.${copyPid}`,
    ]);
    // A partial file of a killed upload of this source, and one of another source.
    const src = await getSubvolumeInfo(data);
    const key = (sourceUuid: string) =>
      encodeKey({
        name: "data",
        ctime: Temporal.Instant.from("2020-01-01T00:00:00Z"),
        ctransid: 7,
        uuid: "11111111-2222-3333-4444-555555555555",
        sendParentUuid: null,
        sourceUuid,
        seqn: 0,
        suffixes: [],
      }, "UTC");
    const remote = localDirRemote({ id: "usb", path: backups });
    const ours = await remote.createMultipartUpload(key(src.uuid));
    await ours.uploadPart(1, randomBytes(1 << 20), 0);
    const theirs = await remote.createMultipartUpload(
      key("99999999-8888-7777-6666-555555555555"),
    );
    await theirs.uploadPart(1, randomBytes(1000), 0);

    // --pretend shows all of it and changes nothing.
    const shown = memoryOutput();
    const pretend = await update(config, { pretend: true, output: shown });
    assert.ok(pretend.ok);
    const text = shown.lines.join("\n");
    assert.match(
      text,
      new RegExp(
        `destroy stale snapshot ${snaps}/data\\.NEW\\.${copyPid} \\(left by process ${copyPid}; a copy of ${snaps}/${
          kept.replaceAll(".", "\\.").replaceAll("+", "\\+")
        }\\)`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `delete stale partial file of usb:${
          key(src.uuid).replaceAll(".", "\\.").replaceAll("+", "\\+")
        } \\(started \\d{4}-`,
      ),
    );
    assert.doesNotMatch(text, /99999999-8888/);
    assert.equal((await names(snaps)).length, 2);
    assert.equal((await remote.listOpenUploads()).length, 2);

    const out = memoryOutput();
    const r = await update(config, { force: true, output: out });
    assert.ok(r.ok, r.summary);
    assert.match(
      r.summary,
      /1 stale snapshot\(s\) destroyed, 1 stale upload\(s\) aborted/,
    );
    assert.deepEqual(await names(snaps), [kept]);
    const left = await remote.listOpenUploads();
    assert.deepEqual(left.map((u) => u.id), [theirs.id]);
    await theirs.abort();

    // A killed run's snapshot of new data is adopted: renamed, backed up.
    await Deno.writeFile(`${data}/b.bin`, randomBytes(1 << 20));
    await run(["sync"]);
    const adoptPid = await deadPid();
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      data,
      `${snaps}/data.NEW.${adoptPid}`,
    ]);
    const adopt = memoryOutput();
    const third = await update(config, { force: true, output: adopt });
    assert.ok(third.ok, third.summary);
    assert.match(
      adopt.lines.join("\n"),
      new RegExp(
        `adopt stale snapshot ${snaps}/data\\.NEW\\.${adoptPid} \\(left by process ${adoptPid}\\)`,
      ),
    );
    const after = await names(snaps);
    assert.ok(after.every((n) => !n.includes(".NEW.")), after.join(" "));
    assert.equal(third.report?.uploaded.length, 1);
  },
});
