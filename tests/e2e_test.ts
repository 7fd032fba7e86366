/**
 * End to end: real btrfs, real Ceph RGW, the library's update/restore/
 * list-backups and the CLI as a user runs it.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { listBackups, restore, update } from "../mod.ts";
import type { ConfigInput, PipeStageInput } from "../mod.ts";
import { loadConfig } from "../lib/app/config/load.ts";
import { parseKey } from "../lib/core/keys.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { type S3Server, startS3Server } from "./fixtures/s3_server.ts";

const CLI_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];
const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** A source subvolume on a fresh btrfs, a restore btrfs, and a bucket. */
async function setup(server: S3Server) {
  const src = await createBtrfs({ sizeMiB: 1024 });
  const dst = await createBtrfs({ sizeMiB: 1024 });
  const data = `${src.mountPoint}/data`;
  await run(["btrfs", "subvolume", "create", data]);
  const bucket = await server.createBucket();
  const config = (
    preserve: string,
    pipe: PipeStageInput[] = [],
  ): ConfigInput => ({
    timezone: "UTC",
    remotes: [{
      kind: "s3",
      id: "ceph",
      bucket,
      endpoint: server.endpoint,
      region: server.region,
      pathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    }],
    sources: [{
      kind: "btrfs",
      path: data,
      snapshots: `${src.mountPoint}/snapshots`,
      upload: [{ remote: "ceph", preserve, pipe }],
    }],
  });
  const close = async () => {
    await src.close();
    await dst.close();
  };
  return { src, dst, data, bucket, config, close };
}

/** Writes a change to the source: a new file, an appended file, a removed file. */
async function change(data: string, cycle: number): Promise<void> {
  await Deno.writeFile(
    `${data}/file-${cycle}.bin`,
    randomBytes(1 << 20 + (cycle % 3)),
  );
  await Deno.writeTextFile(`${data}/log.txt`, `cycle ${cycle}\n`, {
    append: true,
  });
  if (cycle > 2) await Deno.remove(`${data}/file-${cycle - 2}.bin`);
}

async function snapshotsIn(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) =>
    `${dir}/${e.name}`
  ).sort();
}

/** Every backup's chain reaches a full backup in the same listing. */
function assertChainsComplete(
  backups: { uuid: string; parent: string | null }[],
): void {
  const byUuid = new Map(backups.map((b) => [b.uuid, b]));
  for (const b of backups) {
    let cur = b;
    for (let i = 0; cur.parent; i++) {
      const p = byUuid.get(cur.parent);
      assert.ok(p, `parent ${cur.parent} of ${b.uuid} is in the bucket`);
      assert.ok(i < 100);
      cur = p;
    }
  }
}

let server: S3Server;

Deno.test({
  name: "end to end against real btrfs and Ceph RGW",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    server = await startS3Server();
    try {
      await t.step(
        "update cycles under a seconds-level policy build a differential tree that restores byte for byte",
        async () => {
          const env = await setup(server);
          try {
            const config = env.config("1y 1d 2s");
            for (let cycle = 1; cycle <= 4; cycle++) {
              await change(env.data, cycle);
              const r = await update(config, { force: true });
              assert.ok(r.ok, r.summary);
              assert.equal(
                r.report?.created.length,
                1,
                "a changed source is snapshotted",
              );
              await new Promise((r) => setTimeout(r, 1100));
            }
            const listing = await listBackups(config, "ceph");
            assert.equal(listing.sources.length, 1);
            const backups = listing.sources[0].backups;
            const full = backups.filter((b) => b.parent === null);
            assert.equal(full.length, 1, "one full backup (the yearly)");
            assert.ok(backups.length >= 2, "differential backups on top of it");
            assertChainsComplete(backups);
            // The bucket holds a backup of exactly the snapshots kept on disk.
            const snaps = await snapshotsIn(`${env.src.mountPoint}/snapshots`);
            assert.deepEqual(
              backups.map((b) => b.ctransid).sort((a, b) => a - b),
              snaps.map((s) => Number(s.split(".").at(-1))).sort((a, b) =>
                a - b
              ),
            );
            // Every key parses back to what the listing says.
            for (const b of backups) {
              const k = parseKey(b.key);
              assert.ok(k.ok);
              assert.equal(k.key.sendParentUuid, b.parent);
            }
            // Restore everything; each received subvolume equals its snapshot.
            const restored = await restore(config, {
              dest: env.dst.mountPoint,
              remote: "ceph",
            });
            assert.equal(restored.received.length, backups.length);
            assert.equal(restored.unverified, 0);
            for (const snap of snaps) {
              assert.deepEqual(
                await treeSums(`${env.dst.mountPoint}/${basename(snap)}`),
                await treeSums(snap),
                snap,
              );
            }
            // A second restore skips what is there.
            const again = await restore(config, {
              dest: env.dst.mountPoint,
              remote: "ceph",
            });
            assert.equal(again.received.length, 0);
            assert.equal(again.skipped, backups.length);
          } finally {
            await env.close();
          }
        },
      );

      await t.step(
        "a second update with nothing changed plans nothing, and one snapshot restores with its chain",
        async () => {
          const env = await setup(server);
          try {
            const config = env.config("1y 1m 1d");
            for (let cycle = 1; cycle <= 3; cycle++) {
              await change(env.data, cycle);
              assert.ok((await update(config, { force: true })).ok);
            }
            const again = await update(config, { force: true });
            assert.equal(again.summary, "nothing to do");
            const backups =
              (await listBackups(config, "ceph")).sources[0].backups;
            // 1y 1m 1d within one day: the first snapshot is the full, the newest a diff from it.
            assert.equal(backups.length, 2);
            assert.equal(backups[0].parent, null);
            assert.equal(backups[1].parent, backups[0].uuid);
            const r = await restore(config, {
              dest: env.dst.mountPoint,
              remote: "ceph",
              uuid: backups[1].uuid,
            });
            assert.equal(
              r.received.length,
              2,
              "the full backup first, then the diff",
            );
            const snaps = await snapshotsIn(`${env.src.mountPoint}/snapshots`);
            assert.deepEqual(
              await treeSums(r.received[1].path),
              await treeSums(
                snaps.find((s) => s.endsWith(`.${backups[1].ctransid}`))!,
              ),
            );
          } finally {
            await env.close();
          }
        },
      );

      await t.step(
        "zstd and age stages: keys carry .zst.age, objects are encrypted, restore is byte for byte",
        async () => {
          const env = await setup(server);
          const keyDir = await Deno.makeTempDir();
          try {
            await run(["age-keygen", "-o", `${keyDir}/id.txt`]);
            const recipient =
              (await run(["age-keygen", "-y", `${keyDir}/id.txt`])).stdout
                .trim();
            const config = env.config("1y 1d", [
              { kind: "zstd", level: 3 },
              {
                kind: "age",
                recipients: [recipient],
                identityFile: `${keyDir}/id.txt`,
              },
            ]);
            for (let cycle = 1; cycle <= 3; cycle++) {
              await change(env.data, cycle);
              assert.ok((await update(config, { force: true })).ok);
            }
            const backups =
              (await listBackups(config, "ceph")).sources[0].backups;
            for (const b of backups) {
              assert.deepEqual(b.suffixes, ["zst", "age"]);
            }
            const { S3Client, GetObjectCommand } = await import(
              "@aws-sdk/client-s3"
            );
            const client = new S3Client({
              endpoint: server.endpoint,
              region: server.region,
              forcePathStyle: true,
              credentials: {
                accessKeyId: server.accessKeyId,
                secretAccessKey: server.secretAccessKey,
              },
            });
            const obj = await client.send(
              new GetObjectCommand({ Bucket: env.bucket, Key: backups[0].key }),
            );
            const head = new TextDecoder().decode(
              (await obj.Body!.transformToByteArray()).slice(0, 21),
            );
            client.destroy();
            assert.equal(head, "age-encryption.org/v1");
            const r = await restore(config, {
              dest: env.dst.mountPoint,
              remote: "ceph",
            });
            assert.equal(r.received.length, backups.length);
            for (
              const snap of await snapshotsIn(`${env.src.mountPoint}/snapshots`)
            ) {
              assert.deepEqual(
                await treeSums(`${env.dst.mountPoint}/${basename(snap)}`),
                await treeSums(snap),
              );
            }
          } finally {
            await env.close();
            await Deno.remove(keyDir, { recursive: true });
          }
        },
      );

      await t.step(
        "the btrfs2s3 YAML form of a config plans and uploads the same as the TypeScript form",
        async () => {
          const env = await setup(server);
          const dir = await Deno.makeTempDir();
          try {
            const ts = env.config("1y 1m 1d");
            const yamlPath = `${dir}/config.yaml`;
            await Deno.writeTextFile(
              yamlPath,
              `timezone: UTC
sources:
  - path: ${env.data}
    snapshots: ${env.src.mountPoint}/snapshots
    upload_to_remotes:
      - id: ceph
        preserve: 1y 1m 1d
remotes:
  - id: ceph
    s3:
      bucket: ${env.bucket}
      endpoint:
        endpoint_url: ${server.endpoint}
        region_name: ${server.region}
        aws_access_key_id: ${server.accessKeyId}
        aws_secret_access_key: ${server.secretAccessKey}
`,
            );
            const yaml = await loadConfig(yamlPath);
            await change(env.data, 1);
            const now = Temporal.Now.instant();
            const a = await update(ts, { pretend: true, now });
            const b = await update(yaml, { pretend: true, now });
            assert.deepEqual(b.plan, a.plan);
            assert.ok((await update(yaml, { force: true })).ok);
            await change(env.data, 2);
            assert.ok((await update(ts, { force: true })).ok);
            assert.equal(
              (await update(yaml, { force: true })).summary,
              "nothing to do",
            );
            const backups =
              (await listBackups(yaml, "ceph")).sources[0].backups;
            assert.equal(backups.length, 2);
            assert.equal(backups[1].parent, backups[0].uuid);
          } finally {
            await env.close();
            await Deno.remove(dir, { recursive: true });
          }
        },
      );

      await t.step(
        "killing update during an upload, then running it again, converges with no duplicate and no loss",
        async () => {
          const env = await setup(server);
          const dir = await Deno.makeTempDir();
          try {
            const configPath = `${dir}/policy.ts`;
            await Deno.writeTextFile(
              configPath,
              `export default ${JSON.stringify(env.config("1y 1m 1d"))};\n`,
            );
            await Deno.writeFile(`${env.data}/big.bin`, randomBytes(256 << 20));
            const child = new Deno.Command(Deno.execPath(), {
              args: ["run", ...CLI_FLAGS, CLI, "update", "--force", configPath],
              stdout: "piped",
              stderr: "piped",
              env: { NO_COLOR: "1" },
            }).spawn();
            // Kill it once the upload has started.
            const reader = child.stdout.pipeThrough(new TextDecoderStream())
              .getReader();
            let seen = "";
            while (!seen.includes("uploading ")) {
              const { value, done } = await reader.read();
              if (done) break;
              seen += value;
            }
            assert.ok(seen.includes("uploading "), seen);
            await new Promise((r) => setTimeout(r, 300));
            child.kill("SIGKILL");
            reader.releaseLock();
            await child.stdout.cancel().catch(() => {});
            await child.stderr.cancel();
            await child.status;
            const during = await listBackups(env.config("1y 1m 1d"), "ceph");
            assert.equal(
              during.sources.length,
              0,
              "no backup appears for a killed upload",
            );

            const again = await run([
              Deno.execPath(),
              "run",
              ...CLI_FLAGS,
              CLI,
              "update",
              "--force",
              configPath,
            ], {
              env: { NO_COLOR: "1" },
            });
            assert.match(again.stdout, /1 backup\(s\) uploaded/);
            const third = await run([
              Deno.execPath(),
              "run",
              ...CLI_FLAGS,
              CLI,
              "update",
              "--force",
              configPath,
            ]);
            assert.match(third.stdout, /nothing to do/);
            const backups =
              (await listBackups(env.config("1y 1m 1d"), "ceph")).sources[0]
                .backups;
            assert.equal(backups.length, 1);
            assert.equal(
              new Set(backups.map((b) => b.uuid)).size,
              backups.length,
              "no duplicate",
            );
            const snaps = await snapshotsIn(`${env.src.mountPoint}/snapshots`);
            assert.equal(snaps.length, 1);
            const r = await restore(env.config("1y 1m 1d"), {
              dest: env.dst.mountPoint,
              remote: "ceph",
            });
            assert.deepEqual(
              await treeSums(r.received[0].path),
              await treeSums(snaps[0]),
            );
          } finally {
            await env.close();
            await Deno.remove(dir, { recursive: true });
          }
        },
      );
    } finally {
      await server.stop();
    }
  },
});
