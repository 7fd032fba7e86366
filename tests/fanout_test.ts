/**
 * One `btrfs send` for several remotes: real btrfs, real Ceph RGW and a
 * local-directory remote, the CLI as a user runs it, with `btrfs` wrapped on
 * PATH to count the sends.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { listBackups, restore } from "../mod.ts";
import type { ConfigInput, PipeStageInput } from "../mod.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { startFaultProxy } from "./fixtures/fault_proxy.ts";
import { run } from "./fixtures/process.ts";
import { type S3Server, startS3Server } from "./fixtures/s3_server.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const CLI_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];

/** A `btrfs` first on PATH that logs its arguments and runs the real one. */
async function btrfsWrapper(dir: string) {
  const real = (await run(["bash", "-c", "command -v btrfs"])).stdout.trim();
  const log = `${dir}/btrfs.log`;
  await Deno.mkdir(`${dir}/bin`);
  await Deno.writeTextFile(
    `${dir}/bin/btrfs`,
    `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
  return {
    path: `${dir}/bin:${Deno.env.get("PATH")}`,
    /** `btrfs send` runs so far. */
    async sends(): Promise<number> {
      const text = await Deno.readTextFile(log).catch(() => "");
      return text.split("\n").filter((l) => l.startsWith("send ")).length;
    },
  };
}

async function setup(server: S3Server, endpoint = server.endpoint) {
  const src = await createBtrfs({ sizeMiB: 768 });
  const dstCeph = await createBtrfs({ sizeMiB: 512 });
  const dstUsb = await createBtrfs({ sizeMiB: 512 });
  const dir = await Deno.makeTempDir();
  const data = `${src.mountPoint}/data`;
  const usb = `${src.mountPoint}/usb`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(usb);
  const bucket = await server.createBucket();
  const wrapper = await btrfsWrapper(dir);
  const config = (
    preserve: string,
    usbPipe: PipeStageInput[] = [],
  ): ConfigInput => ({
    timezone: "UTC",
    remotes: [
      {
        kind: "s3",
        id: "ceph",
        bucket,
        endpoint,
        region: server.region,
        pathStyle: true,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        partSizeMiB: 5,
      },
      { kind: "local", id: "usb", path: usb },
    ],
    sources: [{
      kind: "btrfs",
      path: data,
      snapshots: `${src.mountPoint}/snapshots`,
      upload: [
        { remote: "ceph", preserve },
        { remote: "usb", preserve, pipe: usbPipe },
      ],
    }],
  });
  const update = async (c: ConfigInput) => {
    const path = `${dir}/policy.ts`;
    await Deno.writeTextFile(path, `export default ${JSON.stringify(c)};\n`);
    return await run(
      [Deno.execPath(), "run", ...CLI_FLAGS, CLI, "update", "--force", path],
      { check: false, env: { NO_COLOR: "1", PATH: wrapper.path } },
    );
  };
  const snapshots = async () =>
    (await Array.fromAsync(Deno.readDir(`${src.mountPoint}/snapshots`)))
      .map((e) => `${src.mountPoint}/snapshots/${e.name}`).sort();
  return {
    src,
    dstCeph,
    dstUsb,
    data,
    usb,
    bucket,
    wrapper,
    config,
    update,
    snapshots,
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dstCeph.close();
      await dstUsb.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

let server: S3Server;

Deno.test({
  name: "one btrfs send feeds several remotes",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    server = await startS3Server();
    try {
      await t.step(
        "a full and a differential reach Ceph and a zstd-piped local remote with one send each, and both restore byte for byte",
        async () => {
          await using env = await setup(server);
          const config = env.config("1y 1d", [{ kind: "zstd" }]);
          // 24 MiB: a multipart upload to Ceph (5 MiB parts) while the local side compresses.
          await Deno.writeFile(`${env.data}/big.bin`, randomBytes(24 << 20));
          const first = await env.update(config);
          assert.equal(first.code, 0, first.stderr);
          assert.equal(
            await env.wrapper.sends(),
            1,
            "one send for two remotes",
          );
          await Deno.writeFile(`${env.data}/more.bin`, randomBytes(3 << 20));
          await Deno.writeTextFile(`${env.data}/note.txt`, "second\n");
          const second = await env.update(config);
          assert.equal(second.code, 0, second.stderr);
          assert.match(second.stdout, /2 backup\(s\) uploaded/);
          assert.equal(await env.wrapper.sends(), 2, "one send for the diff");

          for (
            const [remote, dst] of [["ceph", env.dstCeph], [
              "usb",
              env.dstUsb,
            ]] as const
          ) {
            const backups =
              (await listBackups(config, remote)).sources[0].backups;
            assert.equal(backups.length, 2, remote);
            assert.equal(backups[1].parent, backups[0].uuid);
            if (remote === "usb") {
              assert.deepEqual(backups[0].suffixes, ["zst"]);
            }
            const r = await restore(config, { dest: dst.mountPoint, remote });
            assert.equal(r.received.length, 2);
            assert.equal(r.unverified, 0);
            for (const snap of await env.snapshots()) {
              assert.deepEqual(
                await treeSums(`${dst.mountPoint}/${basename(snap)}`),
                await treeSums(snap),
                `${remote}: ${snap}`,
              );
            }
          }
        },
      );

      await t.step(
        "with Ceph answering 500 to every upload, the local backup completes, the run exits 1 and no snapshot is destroyed; the next run converges",
        async () => {
          await using proxy = startFaultProxy({
            upstream: server.endpoint,
            // Listings and the undo's deletes pass: only the upload fails.
            filter: ({ method, target }) =>
              method === "PUT" ||
              (method === "POST" && !target.includes("delete")),
          });
          await using env = await setup(server, proxy.endpoint);
          // Keep only the newest snapshot: the second run would destroy the first.
          const config = env.config("");
          await Deno.writeFile(`${env.data}/a.bin`, randomBytes(2 << 20));
          const first = await env.update(config);
          assert.equal(first.code, 0, first.stderr);
          const [oldSnap] = await env.snapshots();
          const oldCeph = (await listBackups(config, "ceph")).sources[0]
            .backups;
          assert.equal(oldCeph.length, 1);

          await Deno.writeFile(`${env.data}/b.bin`, randomBytes(2 << 20));
          proxy.setFaults({ error500: 1 });
          const failed = await env.update(config);
          assert.equal(failed.code, 1, failed.stdout + failed.stderr);
          assert.equal(await env.wrapper.sends(), 2, "still one send per run");
          assert.ok(proxy.counts.error500 > 1, "the upload was retried");
          const out = failed.stdout + failed.stderr;
          assert.match(out, /upload of data\.\S+ to ceph failed/);
          assert.match(
            out,
            /kept 1 snapshot\(s\) of data the plan would destroy/,
          );
          assert.match(out, /1 upload\(s\) failed; the first, to ceph/);
          // No snapshot destroyed: the old one and the new one are both there.
          const snaps = await env.snapshots();
          assert.equal(snaps.length, 2);
          assert.ok(snaps.includes(oldSnap));
          // Ceph still holds the old backup and nothing of the new one.
          assert.deepEqual(
            (await listBackups(config, "ceph")).sources[0].backups.map((b) =>
              b.key
            ),
            oldCeph.map((b) => b.key),
          );
          // The local remote got the new backup (and, its own upload done, dropped the old one).
          const usb = (await listBackups(config, "usb")).sources[0].backups;
          assert.deepEqual(
            usb.map((b) => b.ctransid),
            [Number(snaps.find((s) => s !== oldSnap)!.split(".").at(-1))],
          );
          const r = await restore(config, {
            dest: env.dstUsb.mountPoint,
            remote: "usb",
          });
          const newSnap = snaps.find((s) => s !== oldSnap)!;
          assert.deepEqual(
            await treeSums(r.received[0].path),
            await treeSums(newSnap),
          );

          // Ceph recovers: the next run uploads there and only then destroys the old snapshot.
          proxy.setFaults({});
          const again = await env.update(config);
          assert.equal(again.code, 0, again.stderr);
          assert.deepEqual(await env.snapshots(), [newSnap]);
          const ceph = (await listBackups(config, "ceph")).sources[0].backups;
          assert.equal(ceph.length, 1);
          assert.equal(ceph[0].ctransid, usb[0].ctransid);
        },
      );
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "a pipe stage failing for one remote stops only that remote's upload; the other completes from the same send",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using src = await createBtrfs({ sizeMiB: 512 });
    const dir = await Deno.makeTempDir();
    try {
      const data = `${src.mountPoint}/data`;
      await run(["btrfs", "subvolume", "create", data]);
      for (const r of ["good", "bad"]) {
        await Deno.mkdir(`${src.mountPoint}/${r}`);
      }
      await Deno.writeFile(`${data}/a.bin`, randomBytes(8 << 20));
      const wrapper = await btrfsWrapper(dir);
      const config = (badStage: PipeStageInput[]): ConfigInput => ({
        timezone: "UTC",
        remotes: [
          { kind: "local", id: "good", path: `${src.mountPoint}/good` },
          { kind: "local", id: "bad", path: `${src.mountPoint}/bad` },
        ],
        sources: [{
          kind: "btrfs",
          path: data,
          snapshots: `${src.mountPoint}/snapshots`,
          upload: [
            { remote: "good", preserve: "1y" },
            { remote: "bad", preserve: "1y", pipe: badStage },
          ],
        }],
      });
      const path = `${dir}/policy.ts`;
      const update = async (c: ConfigInput, ...flags: string[]) => {
        await Deno.writeTextFile(
          path,
          `export default ${JSON.stringify(c)};\n`,
        );
        return await run(
          [
            Deno.execPath(),
            "run",
            ...CLI_FLAGS,
            CLI,
            "update",
            "--force",
            "--json",
            ...flags,
            path,
          ],
          { check: false, env: { NO_COLOR: "1", PATH: wrapper.path } },
        );
      };
      // Reads a little, then fails: the stream for "bad" breaks mid-way.
      const failing: PipeStageInput = {
        kind: "cmd",
        argv: ["sh", "-c", "head -c 100000 >/dev/null; exit 3"],
      };
      const r = await update(config([failing]));
      assert.equal(r.code, 1, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.uploaded.length, 1);
      assert.equal(j.uploaded[0].remote, "good");
      assert.equal(j.failedUploads.length, 1);
      assert.equal(j.failedUploads[0].remote, "bad");
      assert.match(j.failedUploads[0].error, /exited with code 3/);
      assert.equal(await wrapper.sends(), 1);
      // Nothing that looks like a backup on the failed side.
      assert.equal(
        (await listBackups(config([]), "bad")).sources.length,
        0,
      );
      // The good side restores byte for byte.
      await using dst = await createBtrfs({ sizeMiB: 256 });
      const got = await restore(config([]), {
        dest: dst.mountPoint,
        remote: "good",
      });
      const [snap] = await Array.fromAsync(
        Deno.readDir(`${src.mountPoint}/snapshots`),
      );
      assert.deepEqual(
        await treeSums(got.received[0].path),
        await treeSums(`${src.mountPoint}/snapshots/${snap.name}`),
      );
      // Fixed, the next run uploads only what "bad" lacks, from a send of its own.
      // "bad" never got its first object, so neither its marker: say it is new.
      const fixed = await update(config([]), "--init-remote");
      assert.equal(fixed.code, 0, fixed.stderr);
      const k = JSON.parse(fixed.stdout);
      assert.deepEqual(k.uploaded.map((u: { remote: string }) => u.remote), [
        "bad",
      ]);
      assert.equal(await wrapper.sends(), 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
