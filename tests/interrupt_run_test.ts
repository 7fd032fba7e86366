/**
 * SIGTERM during a real upload (loop btrfs → pipe stage → Ceph RGW), the CLI
 * as cron would run it: the run stops cleanly and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { startS3Server } from "./fixtures/s3_server.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { acquireLock, sourceLockPath } from "../lib/app/lock.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];

/** Command lines of every process on the machine. */
async function processTable(): Promise<string[]> {
  return (await run(["ps", "-eo", "stat=,args="])).stdout.split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("Z"));
}

Deno.test({
  name:
    "SIGTERM during an upload to Ceph: exit 143, no open multipart upload, no object, no process of ours, the lock free",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using server = await startS3Server();
    await using fs = await createBtrfs({ sizeMiB: 1024 });
    const dir = await Deno.makeTempDir();
    const remoteOptions = {
      id: "ceph",
      bucket: await server.createBucket(),
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    const remote = s3Remote({ ...remoteOptions, provider: "custom" });
    try {
      const data = `${fs.mountPoint}/data`;
      const snaps = `${fs.mountPoint}/snapshots`;
      await run(["btrfs", "subvolume", "create", data]);
      for (let i = 0; i < 6; i++) {
        await Deno.writeFile(`${data}/blob${i}.bin`, randomBytes(64 << 20));
      }
      // A stage that starts a child of its own: it must go too.
      const marker = `sleep ${6000 + Math.floor(Math.random() * 999)}`;
      const config = `${dir}/policy.ts`;
      await Deno.writeTextFile(
        config,
        `export default ${
          JSON.stringify({
            timezone: "UTC",
            remotes: [{ kind: "s3", pathStyle: true, ...remoteOptions }],
            sources: [{
              kind: "btrfs",
              path: data,
              snapshots: snaps,
              upload: [{
                remote: "ceph",
                preserve: "1y 1d",
                pipe: [{
                  kind: "cmd",
                  argv: ["sh", "-c", `${marker} >/dev/null 2>&1 & exec cat`],
                }],
              }],
            }],
          })
        };\n`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...FLAGS, CLI, "update", "--force", config],
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stdout = new Response(child.stdout).text();
      const stderr = new Response(child.stderr).text();
      // Wait until the upload is under way: a multipart upload is open.
      const t0 = performance.now();
      while ((await remote.listOpenUploads()).length === 0) {
        assert.ok(performance.now() - t0 < 60_000, "no upload started");
        await new Promise((r) => setTimeout(r, 100));
      }
      const running = await processTable();
      assert.ok(running.some((l) => l.includes(marker)), "stage not running");
      assert.ok(running.some((l) => /btrfs send .*snapshots/.test(l)));
      child.kill("SIGTERM");
      const status = await child.status;
      const err = await stderr;
      assert.equal(status.code, 143, `${await stdout}\n${err}`);
      const last = err.trim().split("\n").at(-1)!;
      assert.match(
        last,
        /^interrupted by SIGTERM: the step in progress was undone; kept what was done: 1 snapshot\(s\) created, 0 backup\(s\) uploaded, 0 snapshot\(s\) destroyed, 0 backup\(s\) deleted$/,
      );
      assert.deepEqual(await remote.listOpenUploads(), []);
      assert.deepEqual(await Array.fromAsync(remote.list()), []);
      // The snapshot made is kept under its final name; nothing else is left.
      const left = (await Array.fromAsync(Deno.readDir(snaps))).map((e) =>
        e.name
      );
      assert.equal(left.length, 1, left.join(" "));
      assert.match(left[0], /^data\.\d{4}-.*\.\d+$/);
      const after = await processTable();
      assert.deepEqual(after.filter((l) => l.includes(marker)), []);
      assert.deepEqual(
        after.filter((l) => /btrfs send .*snapshots/.test(l)),
        [],
      );
      await (await acquireLock(sourceLockPath(snaps, "data"))).release();
    } finally {
      remote.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
