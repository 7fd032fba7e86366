/**
 * `snap2s3 status`: fresh right after a backup, stale once a change has
 * waited longer than --max-age, judged by age alone where the source is not,
 * and read-only throughout. Real btrfs and a local-directory remote.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { update } from "../mod.ts";
import { memoryOutput } from "../lib/app/output.ts";
import type { StatusReport } from "../lib/app/commands/status.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

async function status(
  args: string[],
): Promise<{ code: number; report?: StatusReport; text: string }> {
  const out = memoryOutput();
  const code = await main(["status", ...args], out);
  const text = out.lines.join("\n");
  return {
    code,
    text,
    report: args.includes("--json") && out.stdout.length
      ? JSON.parse(out.stdout.join("\n"))
      : undefined,
  };
}

async function listTree(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test({
  name:
    "status: fresh after a backup, stale when a change has waited longer than --max-age, by age alone without the source",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 256 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    await Deno.writeTextFile(`${data}/a.txt`, "one\n");
    const config = {
      timezone: "Europe/Berlin",
      remotes: [{ kind: "local" as const, id: "usb", path: remote }],
      sources: [{
        kind: "btrfs" as const,
        path: data,
        snapshots: snaps,
        upload: [{ remote: "usb", preserve: "1y 1d" }],
      }],
    };
    const dir = await Deno.makeTempDir();
    const file = `${dir}/policy.ts`;
    await Deno.writeTextFile(file, `export default ${JSON.stringify(config)};`);
    try {
      await t.step("no backup yet is stale", async () => {
        const r = await status([file, "--max-age", "1h", "--json"]);
        assert.equal(r.code, 1, r.text);
        assert.equal(r.report?.entries[0].newest, null);
        assert.equal(r.report?.entries[0].stale, true);
      });

      const result = await update(config, { force: true });
      assert.ok(result.ok, result.summary);

      await t.step("exit 0 right after a backup", async () => {
        const r = await status([file, "--max-age", "3s", "--json"]);
        assert.equal(r.code, 0, r.text);
        const e = r.report!.entries[0];
        assert.equal(e.changesNewer, false);
        assert.equal(e.stale, false);
        assert.equal(e.maxAgeSeconds, 3);
        assert.match(
          e.newest!.ctime,
          /\+0[12]:00$/,
          "shown in the config's zone",
        );
      });

      await t.step(
        "a fresh change to a recent backup is not yet stale",
        async () => {
          await Deno.writeTextFile(`${data}/a.txt`, "two\n");
          const r = await status([file, "--max-age", "1h", "--json"]);
          assert.equal(r.code, 0, r.text);
          assert.equal(r.report!.entries[0].changesNewer, true);
        },
      );

      await t.step(
        "exit 1 once the change has waited longer than --max-age",
        async () => {
          const before = {
            snaps: await listTree(snaps),
            remote: await listTree(remote),
          };
          await new Promise((r) => setTimeout(r, 3500));
          const r = await status([file, "--max-age", "3s", "--json"]);
          assert.equal(r.code, 1, r.text);
          const e = r.report!.entries[0];
          assert.equal(e.changesNewer, true);
          assert.equal(e.stale, true);
          assert.ok(e.ageSeconds! >= 3, `age ${e.ageSeconds}`);
          assert.ok(e.sourceCtransid! > e.newest!.ctransid);
          const human = await status([file, "--max-age", "3s"]);
          assert.equal(human.code, 1);
          assert.match(
            human.text,
            /^STALE {2}.*data -> usb: .*source changed since/,
          );
          // Read-only: no snapshot taken, nothing written to the remote.
          assert.deepEqual(await listTree(snaps), before.snaps);
          assert.deepEqual(await listTree(remote), before.remote);
        },
      );

      await t.step(
        "the default max age is twice the finest timeframe (1d: 50 h)",
        async () => {
          const r = await status([file, "--json"]);
          assert.equal(r.code, 0, r.text);
          assert.equal(r.report!.entries[0].maxAgeSeconds, 2 * 25 * 3600);
        },
      );

      await t.step(
        "on a host without the source it judges by age alone",
        async () => {
          const elsewhere = `${dir}/elsewhere.ts`;
          await Deno.writeTextFile(
            elsewhere,
            `export default ${
              JSON.stringify({
                ...config,
                sources: [{
                  ...config.sources[0],
                  path: `${dir}/not-here/data`,
                }],
              })
            };`,
          );
          const old = await status([elsewhere, "--max-age", "2s", "--json"]);
          assert.equal(old.code, 1, old.text);
          assert.equal(old.report!.entries[0].changesNewer, null);
          assert.ok(
            old.report!.entries[0].newest,
            "found by the source's name",
          );
          assert.match(old.report!.warnings[0], /judged by the backups' age/);
          const young = await status([elsewhere, "--max-age", "1h"]);
          assert.equal(young.code, 0, young.text);
        },
      );

      await t.step("a bad --max-age is bad input (exit 2)", async () => {
        const r = await status([file, "--max-age", "soon"]);
        assert.equal(r.code, 2);
        assert.match(r.text, /--max-age: "soon" is not a duration/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
