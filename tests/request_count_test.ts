/**
 * Requests per backup, counted at the fault proxy in front of Ceph RGW (real
 * btrfs): a small update is one listing and one PutObject that carries its
 * SHA-256 in its metadata; an idle update is the listing alone. Restore and
 * verify still check that SHA-256.
 */
import assert from "node:assert/strict";
import { listBackups, restore, update } from "../mod.ts";
import type { ConfigInput } from "../mod.ts";
import { verify } from "../lib/app/commands/verify.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/driver.ts";
import { MANIFEST_PREFIX } from "../lib/drivers/transfer/manifest.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, sha256Hex, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { type FaultProxy, startFaultProxy } from "./fixtures/fault_proxy.ts";
import { run } from "./fixtures/process.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

/** The proxy's requests to the bucket, as `METHOD path?query` without the bucket and key details. */
function bucketRequests(proxy: FaultProxy, bucket: string): string[] {
  return proxy.log.filter((r) => r.target.startsWith(`/${bucket}`)).map((r) =>
    `${r.method} ${
      r.target.slice(bucket.length + 1).replace(/^\/data\..*\?/, "/<key>?")
        .replace(/^\/data\..*/, "/<key>")
    }`
  );
}

Deno.test({
  name:
    "a small update makes 2 requests (listing, PutObject with its SHA-256 in the metadata), an idle one 1; restore and verify check that SHA-256",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using server = await startS3Server();
    await using proxy = startFaultProxy({ upstream: server.endpoint });
    await using src = await createBtrfs({ sizeMiB: 384 });
    await using dst = await createBtrfs({ sizeMiB: 256 });
    const data = `${src.mountPoint}/data`;
    await run(["btrfs", "subvolume", "create", data]);
    const bucket = await server.createBucket();
    const config: ConfigInput = {
      timezone: "UTC",
      remotes: [{
        kind: "s3",
        id: "ceph",
        bucket,
        endpoint: proxy.endpoint,
        region: server.region,
        pathStyle: true,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        partSizeMiB: 5,
      }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: `${src.mountPoint}/snaps`,
        upload: [{ remote: "ceph", preserve: "1y 1d" }],
      }],
    };
    const counted = async (label: string) => {
      proxy.reset();
      const r = await update(config, { force: true });
      assert.ok(r.ok, r.summary);
      // Nothing but the bucket's requests: the preflight only opens a TCP connection.
      assert.deepEqual(
        proxy.log.filter((q) => !q.target.startsWith(`/${bucket}`)).map((q) =>
          `${q.method} ${q.target}`
        ),
        [],
        label,
      );
      return { r, requests: bucketRequests(proxy, bucket) };
    };

    // The first (full) backup, then a 1 MB change.
    await Deno.writeFile(`${data}/a.bin`, randomBytes(1 << 20));
    const first = await counted("full");
    assert.deepEqual(first.requests, [
      "GET /?delimiter=%2F&list-type=2&prefix=",
      "PUT /<key>?x-id=PutObject",
    ]);
    await Deno.writeFile(`${data}/b.bin`, randomBytes(1 << 20));
    const small = await counted("small update");
    assert.deepEqual(small.requests, [
      "GET /?delimiter=%2F&list-type=2&prefix=",
      "PUT /<key>?x-id=PutObject",
    ]);
    assert.equal(small.r.uploads.length, 1);
    assert.equal(small.r.uploads[0].manifest, false);
    const idle = await counted("idle update");
    assert.equal(idle.r.summary, "nothing to do");
    assert.deepEqual(idle.requests, [
      "GET /?delimiter=%2F&list-type=2&prefix=",
    ]);

    // No manifest file: the SHA-256 is the object's own metadata.
    const {
      S3Client,
      HeadObjectCommand,
      GetObjectCommand,
      ListObjectsV2Command,
      PutObjectCommand,
    } = await import("@aws-sdk/client-s3");
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
      },
    });
    try {
      const backups = (await listBackups(config, "ceph")).sources[0].backups;
      assert.equal(backups.length, 2);
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket }),
      );
      const keys = (page.Contents ?? []).map((c) => c.Key!);
      assert.ok(
        !keys.some((k) => k.startsWith(MANIFEST_PREFIX)),
        `no manifest: ${keys.join(", ")}`,
      );
      const key = backups[1].key;
      const got = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key }),
      );
      const bytes = new Uint8Array(await got.Body!.transformToByteArray());
      assert.equal(got.Metadata?.["snap2s3-sha256"], await sha256Hex(bytes));
      assert.equal(small.r.uploads[0].sha256, await sha256Hex(bytes));

      // Restore checks it: byte for byte first.
      const ok = await restore(config, {
        dest: dst.mountPoint,
        remote: "ceph",
      });
      assert.equal(ok.unverified, 0);
      assert.equal(ok.received.length, 2);
      const snaps =
        (await Array.fromAsync(Deno.readDir(`${src.mountPoint}/snaps`)))
          .map((e) => e.name).sort();
      for (const name of snaps) {
        assert.deepEqual(
          await treeSums(`${dst.mountPoint}/${name}`),
          await treeSums(`${src.mountPoint}/snaps/${name}`),
        );
      }
      const before = await verify(config, { remote: "ceph" });
      assert.ok(before.ok);
      assert.deepEqual(before.backups.map((b) => b.sha256), [
        "verified",
        "verified",
      ]);

      // One flipped byte behind our back (the metadata kept): verify and restore refuse it.
      const bad = bytes.slice();
      bad[bad.length - 200] ^= 0x01;
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: bad,
          Metadata: got.Metadata,
        }),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: key }),
      );
      assert.equal(head.Metadata?.["snap2s3-sha256"], await sha256Hex(bytes));
      const after = await verify(config, { remote: "ceph" });
      assert.equal(after.ok, false);
      assert.equal(after.backups[1].sha256, "failed");
      assert.match(after.backups[1].note ?? "", /corrupt.*SHA-256/);
      for (const name of snaps) {
        await run([
          "btrfs",
          "subvolume",
          "delete",
          `${dst.mountPoint}/${name}`,
        ]);
      }
      await assert.rejects(
        restore(config, { dest: dst.mountPoint, remote: "ceph" }),
        /sha-?256|checksum|integrity|crc32 mismatch/i,
      );
      // The full one came back; the corrupted differential never became a finished snapshot.
      for await (const e of Deno.readDir(dst.mountPoint)) {
        const info = await getSubvolumeInfo(`${dst.mountPoint}/${e.name}`)
          .catch(() => null);
        if (e.name === snaps[0]) continue;
        assert.ok(
          !info?.readOnly,
          `${e.name} was received despite the mismatch`,
        );
      }
    } finally {
      client.destroy();
    }
  },
});

Deno.test({
  name:
    "a multipart backup keeps its manifest, and a local remote keeps writing one",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using server = await startS3Server();
    await using src = await createBtrfs({ sizeMiB: 384 });
    const data = `${src.mountPoint}/data`;
    const usb = `${src.mountPoint}/usb`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(usb);
    const bucket = await server.createBucket();
    const config: ConfigInput = {
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
        partSizeMiB: 5,
      }, { kind: "local", id: "usb", path: usb }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: `${src.mountPoint}/snaps`,
        upload: [
          { remote: "ceph", preserve: "1y" },
          { remote: "usb", preserve: "1y" },
        ],
      }],
    };
    await Deno.writeFile(`${data}/big.bin`, randomBytes(12 << 20));
    const r = await update(config, { force: true });
    assert.ok(r.ok, r.summary);
    assert.deepEqual(
      r.uploads.map((u) => [u.remote, u.manifest]).sort(),
      [["ceph", true], ["usb", true]],
    );
    const manifests = await Array.fromAsync(
      Deno.readDir(`${usb}/${MANIFEST_PREFIX}`),
    );
    assert.equal(manifests.length, 1);
    const v = await verify(config, { remote: "ceph" });
    assert.deepEqual(v.backups.map((b) => b.sha256), ["verified"]);
  },
});
