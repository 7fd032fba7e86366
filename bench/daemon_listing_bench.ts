/**
 * Listing calls the daemon makes over an hour of minute ticks, against
 * `update` run by cron each minute (one listing per run), with the clock
 * scaled 1000 to 1 (a "minute" is 60 ms, the hour's relist 3.6 s) on a loop
 * btrfs and a local remote, the source changing at every `--change-every`th
 * tick. Needs root.
 *
 *   deno run -P=test bench/daemon_listing_bench.ts [--change-every 5]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runDaemon } from "../lib/app/commands/daemon.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { createBtrfs } from "../tests/fixtures/btrfs.ts";
import { run } from "../tests/fixtures/process.ts";

const { values } = parseArgs({
  options: { "change-every": { type: "string", default: "5" } },
});
const changeEvery = Number(values["change-every"]);
const TICKS = 60;

await using fs = await createBtrfs({ sizeMiB: 512 });
const data = `${fs.mountPoint}/data`;
const remote = `${fs.mountPoint}/remote`;
await run(["btrfs", "subvolume", "create", data]);
await Deno.mkdir(remote);
const dir = await Deno.makeTempDir();
try {
  const policy = `${dir}/policy.ts`;
  await Deno.writeTextFile(
    policy,
    `export default ${
      JSON.stringify({
        timezone: "UTC",
        remotes: [{ kind: "local", id: "usb", path: remote }],
        sources: [{
          kind: "btrfs",
          path: data,
          snapshots: `${fs.mountPoint}/snapshots`,
          upload: [{ remote: "usb", preserve: "1y 1d 1h 5s" }],
        }],
      })
    };`,
  );
  const stop = new AbortController();
  const out = memoryOutput();
  let listCalls = 0;
  let failed = 0;
  const t0 = performance.now();
  await runDaemon({
    configPath: policy,
    everyMs: 60,
    relistMs: 3600,
    output: out,
    signal: stop.signal,
    handleSignals: false,
    onTick: async (t) => {
      listCalls = t.listCalls;
      if (!t.ok) failed++;
      if (t.tick % changeEvery === 0) {
        await Deno.writeTextFile(`${data}/f.txt`, `tick ${t.tick}\n`);
      }
      if (t.tick >= TICKS) stop.abort();
    },
  });
  const uploads = out.lines.filter((l) => /uploaded data\./.test(l)).length;
  console.log(
    `${TICKS} ticks in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s (scaled hour: 3.6 s), source changed every ${changeEvery}: ${uploads} uploads, ${failed} failed ticks; daemon: ${listCalls} listing(s); cron update every minute: ${TICKS} listings`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
