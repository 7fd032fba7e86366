/**
 * Object lock and storage classes against the real Ceph RGW (which drops
 * lock headers on multipart uploads; the retention is set and read back
 * afterwards) and real btrfs: a 40 MB multipart backup is retained in
 * GOVERNANCE mode until at least its planned expiry, its manifest too, a
 * versioned delete is refused and restore still works; a bucket without
 * object lock is refused before anything is made; deletes after expiry
 * leave no version behind; `storageClasses: { y: "GLACIER" }` stores the
 * yearly full as GLACIER and later backups in the default class.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../lib/app/config/error.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { main } from "../cli.ts";
import { listBackups, restore, update } from "../mod.ts";
import type { ConfigInput, S3RemoteInput } from "../mod.ts";
import { openRemote } from "../lib/app/remotes.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import { s3ClientOf } from "../lib/drivers/remote/s3.ts";
import { manifestKey } from "../lib/drivers/transfer/manifest.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { type S3Server, startS3Server } from "./fixtures/s3_server.ts";

const DAY_MS = 86_400_000;

/** What the raw SDK calls of these tests return. */
interface Versions {
  Versions?: { Key?: string; VersionId?: string }[];
  DeleteMarkers?: { Key?: string; VersionId?: string }[];
}
interface RetentionOut {
  Retention?: { Mode?: string; RetainUntilDate?: Date };
}

function remoteOf(
  server: S3Server,
  bucket: string,
  extra: Partial<S3RemoteInput> = {},
): S3RemoteInput {
  return {
    kind: "s3",
    id: "ceph",
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    pathStyle: true,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    ...extra,
  };
}

async function source(sizeBytes: number) {
  const src = await createBtrfs({ sizeMiB: 512 });
  const dst = await createBtrfs({ sizeMiB: 512 });
  const data = `${src.mountPoint}/data`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.writeFile(`${data}/big.bin`, randomBytes(sizeBytes));
  return {
    src,
    dst,
    data,
    config: (remote: S3RemoteInput, upload: object = {}): ConfigInput => ({
      timezone: "UTC",
      remotes: [remote],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: `${src.mountPoint}/snaps`,
        upload: [{ remote: remote.id, preserve: "2y 1m 1d", ...upload }],
      }],
    }),
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dst.close();
    },
  };
}

async function sdk() {
  return await import("@aws-sdk/client-s3");
}

Deno.test({
  name: "object lock and storage classes on Ceph RGW",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using server = await startS3Server();
    const { DeleteObjectCommand, GetObjectRetentionCommand } = await sdk();
    const { ListObjectVersionsCommand, HeadObjectCommand } = await sdk();

    await t.step(
      "a 40 MB multipart backup under 2y 1m 1d is retained in GOVERNANCE mode past its planned expiry; a versioned delete is refused; restore works",
      async () => {
        await using env = await source(40_000_000);
        const bucket = await server.createBucket(undefined, {
          objectLock: true,
        });
        const config = env.config(
          remoteOf(server, bucket, { objectLock: { mode: "GOVERNANCE" } }),
        );
        const r = await update(config, { force: true });
        assert.ok(r.ok, r.summary);
        const planned = r.plan.sources[0].uploads[0];
        assert.ok(planned.lock, "the upload was planned with a retention");
        assert.equal(planned.parent, null);
        // The yearly is kept through next year: more than a year out.
        assert.ok(
          planned.lock.until.epochMilliseconds > Date.now() + 365 * DAY_MS,
          `${planned.lock.until}`,
        );
        const [b] = (await listBackups(config, "ceph")).sources[0].backups;
        assert.ok(b.size! > 40_000_000);
        const remote = openRemote(validateConfig(config).remotes[0]);
        const client = await s3ClientOf(remote);
        try {
          const head = await client.send(
            new HeadObjectCommand({ Bucket: bucket, Key: b.key }),
          ) as { ETag?: string };
          assert.match(
            head.ETag ?? "",
            /-[2-9]"?$/,
            "sent as a multipart upload",
          );
          for (const key of [b.key, manifestKey(b.key)]) {
            const out = await client.send(
              new GetObjectRetentionCommand({ Bucket: bucket, Key: key }),
            ) as RetentionOut;
            assert.equal(out.Retention?.Mode, "GOVERNANCE", key);
            assert.ok(
              out.Retention!.RetainUntilDate!.getTime() >=
                planned.lock.until.epochMilliseconds,
              `${key}: ${out.Retention?.RetainUntilDate?.toISOString()}`,
            );
          }
          const versions = await client.send(
            new ListObjectVersionsCommand({ Bucket: bucket, Prefix: b.key }),
          ) as Versions;
          const version = versions.Versions?.find((v) => v.Key === b.key);
          assert.ok(version?.VersionId);
          await assert.rejects(
            client.send(
              new DeleteObjectCommand({
                Bucket: bucket,
                Key: b.key,
                VersionId: version.VersionId,
              }),
            ),
            (e: unknown) => {
              assert.match(String((e as Error).name), /AccessDenied/);
              return true;
            },
          );
        } finally {
          remote.close();
        }
        const restored = await restore(config, {
          dest: env.dst.mountPoint,
          remote: "ceph",
        });
        assert.equal(restored.received.length, 1);
        assert.equal(restored.backups[0].verified, true);
        assert.deepEqual(
          await Deno.readFile(`${restored.received[0].path}/big.bin`),
          await Deno.readFile(`${env.data}/big.bin`),
        );
        // The next run reads the retention back: nothing to extend.
        const again = await update(config, { pretend: true });
        assert.deepEqual(again.plan.sources[0].retentions, []);
        const kept = again.plan.sources[0].backups.find((v) =>
          v.kind === "existing"
        );
        assert.ok(
          kept?.kind === "existing" &&
            kept.backup.retainUntil?.equals(planned.lock.until),
          `${kept?.kind === "existing" && kept.backup.retainUntil}`,
        );
      },
    );

    await t.step(
      "a bucket without object lock is refused before anything is made",
      async () => {
        await using env = await source(1_000_000);
        const bucket = await server.createBucket();
        const config = env.config(
          remoteOf(server, bucket, { objectLock: { mode: "COMPLIANCE" } }),
        );
        await assert.rejects(update(config, { force: true }), (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.match(
            e.message,
            /^remotes\[0\]\.objectLock: bucket "[^"]+" does not have object lock enabled/,
          );
          return true;
        });
        // The command line says so in one line and exits 2 (bad config).
        const file = `${env.src.mountPoint}/policy.ts`;
        await Deno.writeTextFile(
          file,
          `export default ${JSON.stringify(config)};\n`,
        );
        const out = memoryOutput();
        assert.equal(await main(["update", file, "--force"], out), 2);
        assert.equal(out.stderr.length, 1, out.stderr.join("\n"));
        assert.match(
          out.stderr[0],
          /remotes\[0\]\.objectLock: bucket .* does not have object lock enabled/,
        );
        const snaps = await Array.fromAsync(
          Deno.readDir(`${env.src.mountPoint}`),
        );
        assert.ok(!snaps.some((e) => e.name === "snaps"), "no snapshot made");
      },
    );

    await t.step(
      "once its retention has ended, a delete removes every version, so nothing stays billed",
      async () => {
        const bucket = await server.createBucket(undefined, {
          objectLock: true,
        });
        const remote = openRemote(
          validateConfig({
            timezone: "UTC",
            sources: [],
            remotes: [
              remoteOf(server, bucket, { objectLock: { mode: "GOVERNANCE" } }),
            ],
          }).remotes[0],
        );
        try {
          await remote.put("k", new Uint8Array([1, 2, 3]));
          await remote.put("k", new Uint8Array([4, 5, 6])); // a second version
          await remote.cold!.setRetention("k", {
            mode: "GOVERNANCE",
            until: new Date(Date.now() + 3000),
          });
          await assert.rejects(remote.delete(["k"]), /AccessDenied/);
          await new Promise((r) => setTimeout(r, 3500));
          await remote.delete(["k"]);
          const client = await s3ClientOf(remote);
          const left = await client.send(
            new ListObjectVersionsCommand({ Bucket: bucket }),
          ) as Versions;
          assert.deepEqual(
            [...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])],
            [],
          );
        } finally {
          remote.close();
        }
      },
    );

    await t.step(
      'storageClasses { y: "GLACIER" }: the yearly full is stored as GLACIER, later backups in the default class',
      async () => {
        await using env = await source(2_000_000);
        const bucket = await server.createBucket();
        const config: ConfigInput = {
          ...env.config(remoteOf(server, bucket), {
            storageClasses: { y: "GLACIER" },
          }),
        };
        // Seconds in the policy make the second backup a kept one of its own.
        config.sources[0].upload[0].preserve = "1y 1d 2s";
        const first = await update(config, { force: true });
        assert.ok(first.ok, first.summary);
        assert.equal(first.plan.sources[0].uploads[0].storageClass, "GLACIER");
        await new Promise((r) => setTimeout(r, 1100));
        await Deno.writeFile(`${env.data}/more.bin`, randomBytes(100_000));
        const second = await update(config, { force: true });
        assert.ok(second.ok, second.summary);
        const backups = (await listBackups(config, "ceph")).sources[0].backups;
        assert.equal(backups.length, 2);
        const [yearly, later] = backups;
        assert.equal(yearly.parent, null);
        assert.equal(yearly.storageClass, "GLACIER");
        assert.equal(later.parent, yearly.uuid);
        assert.equal(later.storageClass, "STANDARD");
        const remote = openRemote(validateConfig(config).remotes[0]);
        try {
          const head = await (await s3ClientOf(remote)).send(
            new HeadObjectCommand({ Bucket: bucket, Key: yearly.key }),
          ) as { StorageClass?: string };
          assert.equal(head.StorageClass, "GLACIER");
        } finally {
          remote.close();
        }
        // Ceph's GLACIER is a placement target: it reads at once.
        const restored = await restore(config, {
          dest: env.dst.mountPoint,
          remote: "ceph",
        });
        assert.equal(restored.received.length, 2);
      },
    );
  },
});
