import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Remote } from "../lib/drivers/remote/remote.ts";
import { localDirRemote } from "../lib/drivers/remote/local_dir.ts";
import { s3ClientOf, s3Remote } from "../lib/drivers/remote/s3.ts";
import { providerPreset } from "../lib/drivers/remote/providers.ts";
import {
  ProducerError,
  type UploadOptions,
  uploadStream,
} from "../lib/drivers/transfer/upload.ts";
import {
  memoryBound,
  objectCapacity,
  partSizeFor,
} from "../lib/drivers/transfer/part_schedule.ts";
import {
  downloadStream,
  IntegrityError,
} from "../lib/drivers/transfer/download.ts";
import {
  deleteBackup,
  MANIFEST_PREFIX,
  manifestKey,
  readManifest,
  seqnKey,
} from "../lib/drivers/transfer/manifest.ts";
import type { Progress } from "../lib/drivers/transfer/progress.ts";
import { retryPolicy, withRetry } from "../lib/drivers/remote/retry.ts";
import { classifyError, RemoteError } from "../lib/drivers/remote/errors.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { type S3Server, startS3Server } from "./fixtures/s3_server.ts";
import { startFaultProxy } from "./fixtures/fault_proxy.ts";

const MiB = 1024 * 1024;
const P = 5 * MiB; // part size in tests: the S3 minimum
const KEY_BASE =
  "home.ctim2024-05-01T10:00:00+02:00.ctid1234.uuid3fd11d8e-8110-4cd0-b85c-bae3dda86a3d.sndp00000000-0000-0000-0000-000000000000.prnt9e3e1b4a-2b7b-4d0f-9f51-4b9fbe0e0b11.mdvn1";
let _n = 0;
/** A fresh backup-like `.seqn0` key. */
function newKey(): string {
  return `${KEY_BASE.replace("ctid1234", `ctid${1000 + ++_n}`)}.seqn0`;
}

/** A stream of `data` in chunks of irregular sizes (as a pipe would give). */
function chunked(data: Uint8Array, chunk = 65_537): ReadableStream<Uint8Array> {
  let off = 0;
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      const n = Math.min(data.length - off, i++ % 3 === 0 ? 1000 : chunk);
      c.enqueue(data.slice(off, off + n));
      off += n;
    },
  });
}

/** A byte stream (readable with a BYOB reader) of `data`, in reads of at most 70,000 bytes. */
function byteStream(data: Uint8Array): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      const req = c.byobRequest;
      if (off >= data.length) {
        c.close();
        req?.respond(0);
        return;
      }
      if (!req?.view) {
        c.enqueue(data.slice(off, off += 65536));
        return;
      }
      const v = req.view;
      const n = Math.min(v.byteLength, data.length - off, 70_000);
      new Uint8Array(v.buffer, v.byteOffset, n).set(
        data.subarray(off, off + n),
      );
      off += n;
      req.respond(n);
    },
  });
}

/** A stream that yields `good` bytes, then errors (a producer that died). */
function failingAfter(good: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(good);
        return;
      }
      c.error(new Error("btrfs send exited with status 1"));
    },
  });
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function keysOf(remote: Remote, prefix = ""): Promise<string[]> {
  return (await Array.fromAsync(remote.list(prefix))).map((o) => o.key);
}

/** Backup keys present (objects and manifest) for a `.seqn0` key. */
async function traces(remote: Remote, key: string): Promise<string[]> {
  const stem = key.replace(/\.seqn0$/, "");
  return [
    ...await keysOf(remote, stem),
    ...await keysOf(remote, manifestKey(key)),
  ];
}

/**
 * The transfer suite both remotes must pass. `corrupt` replaces an object's
 * bytes behind the transfer manager's back.
 */
async function transferSuite(
  t: Deno.TestContext,
  remote: Remote,
  corrupt: (key: string, data: Uint8Array) => Promise<void>,
): Promise<void> {
  const opts: UploadOptions = { partSize: P, concurrency: 3 };
  for (
    const [label, size] of [
      ["0 bytes", 0],
      ["1 byte", 1],
      ["part size - 1", P - 1],
      ["part size", P],
      ["part size + 1", P + 1],
      ["several parts", 3 * P + 12_345],
    ] as const
  ) {
    await t.step(`round-trips ${label} byte for byte`, async () => {
      const data = randomBytes(size);
      const key = newKey();
      const progress: Progress[] = [];
      const r = await uploadStream(remote, key, chunked(data), {
        ...opts,
        onProgress: (p) => progress.push(p),
      });
      assert.equal(r.size, size);
      assert.equal(r.sha256, sha256(data));
      assert.deepEqual(r.objects, [{ key, size }]);
      assert.equal(r.parts, Math.max(1, Math.ceil(size / P)));
      assert.equal((await remote.head(key))?.size, size);
      const last = progress.at(-1)!;
      assert.equal(last.bytes, size);
      assert.equal(last.done, true);
      for (let i = 1; i < progress.length; i++) {
        assert.ok(progress[i].bytes >= progress[i - 1].bytes);
      }
      const d = await downloadStream(remote, key);
      assert.equal(d.verified, true);
      assert.equal(d.size, size);
      const back = await readAll(d.stream);
      assert.equal(back.length, size);
      assert.ok(back.every((b, i) => b === data[i]), "bytes differ");
      assert.deepEqual(await readManifest(remote, key), {
        key,
        objects: [{ key, size }],
        size,
        sha256: sha256(data),
      });
    });
  }

  await t.step(
    "byte streams (a child's stdout) round-trip through the BYOB path",
    async () => {
      const data = randomBytes(2 * P + 4321);
      const key = newKey();
      const r = await uploadStream(remote, key, byteStream(data), opts);
      assert.equal(r.sha256, sha256(data));
      const back = await readAll((await downloadStream(remote, key)).stream);
      assert.equal(sha256(back), sha256(data));
      // And a real child process's stdout.
      const child = new Deno.Command("head", {
        args: ["-c", String(P + 3), "/dev/zero"],
        stdout: "piped",
      }).spawn();
      const z = await uploadStream(remote, newKey(), child.stdout, opts);
      assert.equal(z.size, P + 3);
      assert.equal(z.sha256, sha256(new Uint8Array(P + 3)));
      assert.ok((await child.status).success);
    },
  );

  await t.step(
    "splits a stream longer than the maximum object into .seqn objects and reads them back in order",
    async () => {
      const data = randomBytes(30 * MiB + 7);
      const key = newKey();
      const r = await uploadStream(remote, key, chunked(data, 1 << 20), {
        ...opts,
        maxObjectSize: 12 * MiB,
      });
      assert.deepEqual(r.objects, [
        { key, size: 12 * MiB },
        { key: seqnKey(key, 1), size: 12 * MiB },
        { key: seqnKey(key, 2), size: 6 * MiB + 7 },
      ]);
      assert.ok(seqnKey(key, 2).endsWith(".seqn2"));
      const back = await readAll((await downloadStream(remote, key)).stream);
      assert.equal(sha256(back), sha256(data));
      // Given the listing's keys instead of the first one:
      const byKeys = await downloadStream(remote, r.objects.map((o) => o.key));
      assert.equal(sha256(await readAll(byKeys.stream)), sha256(data));
      // Without a manifest the objects are found by probing .seqn1, .seqn2, ...
      await remote.delete([manifestKey(key)]);
      const reasons: string[] = [];
      const un = await downloadStream(remote, key, {
        onUnverified: (why) => reasons.push(why),
      });
      assert.equal(un.verified, false);
      assert.equal(un.objects.length, 3);
      assert.equal(sha256(await readAll(un.stream)), sha256(data));
      assert.match(reasons[0], /no snap2s3 manifest/);
    },
  );

  await t.step(
    "a stream exactly filling its objects makes no empty extra object",
    async () => {
      const data = randomBytes(2 * P);
      const key = newKey();
      const r = await uploadStream(remote, key, chunked(data), {
        ...opts,
        maxObjectSize: P,
      });
      assert.deepEqual(r.objects.map((o) => o.size), [P, P]);
      assert.deepEqual((await traces(remote, key)).length, 3);
    },
  );

  await t.step(
    "a producer failing mid-stream leaves no object, no open upload and no manifest",
    async () => {
      for (const good of [P / 2, 2 * P + 100]) {
        const key = newKey();
        await assert.rejects(
          uploadStream(remote, key, failingAfter(randomBytes(good)), opts),
          (e) => {
            assert.ok(e instanceof ProducerError, String(e));
            assert.match(e.message, /its input failed: btrfs send exited/);
            return true;
          },
        );
        assert.deepEqual(await traces(remote, key), []);
        assert.deepEqual(await remote.listOpenUploads(), []);
      }
      // After one complete .seqn object, the failure removes that one too.
      const key = newKey();
      await assert.rejects(
        uploadStream(remote, key, failingAfter(randomBytes(P + 5)), {
          ...opts,
          maxObjectSize: P,
        }),
        ProducerError,
      );
      assert.deepEqual(await traces(remote, key), []);
      assert.deepEqual(await remote.listOpenUploads(), []);
    },
  );

  await t.step(
    "a killed producer process (head -c) leaves no object and no open upload",
    async () => {
      const key = newKey();
      const child = new Deno.Command("head", {
        args: ["-c", String(200 * MiB), "/dev/urandom"],
        stdout: "piped",
      }).spawn();
      const stream = processStream(child);
      const upload = uploadStream(remote, key, stream, opts);
      setTimeout(() => child.kill("SIGKILL"), 150);
      await assert.rejects(upload, /exited|signal|killed/i);
      assert.deepEqual(await traces(remote, key), []);
      assert.deepEqual(await remote.listOpenUploads(), []);
    },
  );

  await t.step("a cancelled upload is undone", async () => {
    const key = newKey();
    const ac = new AbortController();
    const infinite = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(MiB));
      },
    });
    const p = uploadStream(remote, key, infinite, {
      ...opts,
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.bytes >= 2 * P) ac.abort(new Error("user pressed ^C"));
      },
    });
    await assert.rejects(p, /user pressed/);
    assert.deepEqual(await traces(remote, key), []);
    assert.deepEqual(await remote.listOpenUploads(), []);
  });

  await t.step(
    "download errors loudly when the bytes do not match the manifest, unless verify is false",
    async () => {
      const data = randomBytes(P + 999);
      const key = newKey();
      await uploadStream(remote, key, chunked(data), opts);
      const bad = data.slice();
      bad[P + 5] ^= 0xff;
      await corrupt(key, bad);
      const d = await downloadStream(remote, key);
      await assert.rejects(readAll(d.stream), (e) => {
        assert.ok(e instanceof IntegrityError);
        assert.match(e.message, /is corrupt: read .* SHA-256/);
        return true;
      });
      const reasons: string[] = [];
      const un = await downloadStream(remote, key, {
        verify: false,
        onUnverified: (w) => reasons.push(w),
      });
      assert.equal(un.verified, false);
      assert.equal(sha256(await readAll(un.stream)), sha256(bad));
      assert.equal(reasons.length, 1);
    },
  );

  await t.step(
    "deleting a backup deletes its objects and its manifest",
    async () => {
      const key = newKey();
      const r = await uploadStream(remote, key, chunked(randomBytes(3 * MiB)), {
        ...opts,
        maxObjectSize: MiB,
      });
      assert.equal(r.objects.length, 3);
      assert.equal((await traces(remote, key)).length, 4);
      await deleteBackup(remote, r.objects.map((o) => o.key));
      assert.deepEqual(await traces(remote, key), []);
    },
  );

  await t.step(
    "memory stays within part size x (concurrency + 1) while the store is slow",
    async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      let maxAhead = 0;
      const slow: Remote = {
        ...remoteMethods(remote),
        async createMultipartUpload(key, o) {
          const mp = await remote.createMultipartUpload(key, o);
          return {
            key,
            id: mp.id,
            complete: (p) => mp.complete(p),
            abort: () => mp.abort(),
            async uploadPart(n, d, off, sums) {
              inFlight++;
              maxInFlight = Math.max(maxInFlight, inFlight);
              await new Promise((r) => setTimeout(r, 30));
              try {
                return await mp.uploadPart(n, d, off, sums);
              } finally {
                inFlight--;
              }
            },
          };
        },
      };
      const data = randomBytes(12 * P);
      const r = await uploadStream(slow, newKey(), chunked(data, 1 << 20), {
        partSize: P,
        concurrency: 2,
        onProgress: (p) => {
          maxAhead = Math.max(maxAhead, p.bytesRead! - p.bytes);
        },
      });
      assert.equal(r.sha256, sha256(data));
      assert.ok(maxInFlight <= 2, `in flight ${maxInFlight}`);
      assert.ok(maxInFlight >= 2, "parts were not sent concurrently");
      assert.ok(maxAhead <= memoryBound(P, 2), `read ahead ${maxAhead}`);
    },
  );
}

/** The remote's methods as a plain object (to wrap some of them). */
function remoteMethods(r: Remote): Remote {
  return {
    id: r.id,
    kind: r.kind,
    limits: r.limits,
    partChecksum: r.partChecksum,
    objectMetadata: r.objectMetadata,
    list: (p) => r.list(p),
    listLevel: (p) => r.listLevel(p),
    head: (k) => r.head(k),
    get: (k, o) => r.get(k, o),
    put: (k, d, o) => r.put(k, d, o),
    createMultipartUpload: (k, o) => r.createMultipartUpload(k, o),
    delete: (k) => r.delete(k),
    listOpenUploads: (p) => r.listOpenUploads(p),
    abortOpenUpload: (u) => r.abortOpenUpload(u),
    resumeUpload: (k, id) => r.resumeUpload(k, id),
    close: () => r.close(),
  };
}

/**
 * A child's stdout as a stream that errors when the child fails (as the pipe
 * layer does for `btrfs send` and its stages).
 */
function processStream(child: Deno.ChildProcess): ReadableStream<Uint8Array> {
  const reader = child.stdout.getReader();
  return new ReadableStream({
    async pull(c) {
      const r = await reader.read();
      if (!r.done) return c.enqueue(r.value);
      const st = await child.status;
      if (st.success) c.close();
      else {
        c.error(
          new Error(
            `producer exited ${
              st.signal ? `on signal ${st.signal}` : `with status ${st.code}`
            }`,
          ),
        );
      }
    },
    cancel(reason) {
      try {
        child.kill();
      } catch { /* gone */ }
      return reader.cancel(reason);
    },
  });
}

Deno.test("local directory remote passes the transfer suite", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-transfer-" });
  const remote = localDirRemote({ id: "local", path: dir });
  try {
    await transferSuite(t, remote, async (key, data) => {
      await Deno.writeFile(`${dir}/${key}`, data);
    });
    // Nothing half-written anywhere.
    assert.deepEqual(await remote.listOpenUploads(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** An S3 remote on the test server. */
function cephRemote(
  server: S3Server,
  bucket: string,
  extra: Partial<Parameters<typeof s3Remote>[0]> = {},
): Remote {
  return s3Remote({
    id: "ceph",
    provider: "custom",
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    ...extra,
  });
}

Deno.test({
  name:
    "S3 remote on Ceph passes the transfer suite, survives faults, and fails fast on permanent errors",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    const remote = cephRemote(server, bucket, { prefix: "host1/" });
    const opts5: UploadOptions = { partSize: P, concurrency: 3 };
    try {
      await transferSuite(t, remote, async (key, data) => {
        // Overwrite behind our back: same size, different bytes.
        const client = await s3ClientOf(remote);
        const { PutObjectCommand } = await import("@aws-sdk/client-s3");
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `host1/${key}`,
            Body: data,
          }),
        );
      });

      await t.step(
        "Content-MD5 and x-amz-checksum-sha256 part checksums and the all-fetch HTTP stack round-trip too",
        async () => {
          for (
            const extra of [
              { checksum: "md5" as const },
              { checksum: "sha256" as const },
              { http: "fetch" as const },
            ]
          ) {
            const other = cephRemote(server, bucket, {
              prefix: "other/",
              ...extra,
            });
            try {
              const data = randomBytes(2 * P + 3);
              const key = newKey();
              const r = await uploadStream(other, key, chunked(data), opts5);
              assert.equal(r.parts, 3);
              const back = await readAll(
                (await downloadStream(other, key)).stream,
              );
              assert.equal(sha256(back), sha256(data));
              const small = newKey();
              await uploadStream(
                other,
                small,
                chunked(data.subarray(0, 10)),
                opts5,
              );
              assert.equal((await other.head(small))?.size, 10);
              assert.deepEqual(await other.listOpenUploads(), []);
            } finally {
              other.close();
            }
          }
        },
      );

      await t.step(
        "uploads and downloads through 10% faults of every kind come out identical",
        async () => {
          await using proxy = startFaultProxy({
            upstream: server.endpoint,
            seed: 2024,
            faults: {
              error500: 0.1,
              slowDown: 0.1,
              resetRequest: 0.1,
              resetResponse: 0.1,
              stall: 0.1,
            },
            stallMs: 5000,
          });
          const retries: string[] = [];
          const flaky = cephRemote(server, bucket, {
            endpoint: proxy.endpoint,
            prefix: "flaky/",
            timeoutMs: 1500,
            retry: {
              attempts: 25,
              baseDelayMs: 20,
              maxDelayMs: 300,
              onRetry: (i) => retries.push(i.what),
            },
          });
          try {
            for (let i = 0; i < 2; i++) {
              const data = randomBytes(4 * P + 4321);
              const key = newKey();
              const r = await uploadStream(flaky, key, chunked(data, 1 << 20), {
                partSize: P,
                concurrency: 3,
              });
              assert.equal(r.sha256, sha256(data));
              const d = await downloadStream(flaky, key, {
                retry: { attempts: 25, baseDelayMs: 20, maxDelayMs: 300 },
              });
              const back = await readAll(d.stream);
              assert.equal(back.length, data.length);
              assert.equal(sha256(back), sha256(data));
            }
            assert.deepEqual(await flaky.listOpenUploads(), []);
            for (const [kind, n] of Object.entries(proxy.counts)) {
              assert.ok(n > 0, `no ${kind} fault was injected`);
            }
            assert.ok(retries.length > 0);
          } finally {
            flaky.close();
          }
        },
      );

      await t.step(
        "a wrong secret key fails at once with a hint, without retrying",
        async () => {
          await using proxy = startFaultProxy({ upstream: server.endpoint });
          const wrong = cephRemote(server, bucket, {
            endpoint: proxy.endpoint,
            secretAccessKey: "wrong-secret-key-000000000000000000000000",
          });
          try {
            const key = newKey();
            await assert.rejects(
              uploadStream(wrong, key, chunked(randomBytes(3 * P)), {
                partSize: P,
              }),
              (e) => {
                assert.ok(e instanceof RemoteError, String(e));
                assert.equal(e.code, "SignatureDoesNotMatch");
                assert.match(e.message, /check the secret access key/);
                return true;
              },
            );
            assert.equal(proxy.requests, 1);
            const smallKey = newKey();
            proxy.reset();
            await assert.rejects(
              uploadStream(wrong, smallKey, chunked(randomBytes(10))),
              /SignatureDoesNotMatch/,
            );
            assert.equal(proxy.requests, 1);
          } finally {
            wrong.close();
          }
          assert.deepEqual(await remote.listOpenUploads(), []);
        },
      );

      await t.step("a missing bucket fails at once saying so", async () => {
        await using proxy = startFaultProxy({ upstream: server.endpoint });
        const none = cephRemote(server, "no-such-bucket-here", {
          endpoint: proxy.endpoint,
        });
        try {
          await assert.rejects(
            uploadStream(none, newKey(), chunked(randomBytes(100))),
            /NoSuchBucket.*the bucket does not exist/,
          );
          assert.equal(proxy.requests, 1);
        } finally {
          none.close();
        }
      });
    } finally {
      remote.close();
    }
  },
});

Deno.test("part sizes grow every 1000 parts so 10,000 parts reach the provider's maximum object", () => {
  const aws = providerPreset("aws").limits;
  assert.equal(partSizeFor(1, 16 * MiB, aws), 16 * MiB);
  assert.equal(partSizeFor(1000, 16 * MiB, aws), 16 * MiB);
  assert.equal(partSizeFor(1001, 16 * MiB, aws), 32 * MiB);
  assert.equal(partSizeFor(8001, 16 * MiB, aws), 4096 * MiB);
  assert.equal(partSizeFor(9001, 16 * MiB, aws), aws.maxPartSize);
  // A part size cap makes objects end sooner (the stream continues in .seqn1).
  const capped = { ...aws, maxPartSize: 64 * MiB };
  assert.equal(partSizeFor(9001, 16 * MiB, capped), 64 * MiB);
  assert.ok(objectCapacity(16 * MiB, capped) < aws.maxObjectSize);
  assert.equal(partSizeFor(10_000, 1024 * MiB, aws), aws.maxPartSize);
  for (const p of ["aws", "b2", "custom"] as const) {
    const l = providerPreset(p).limits;
    assert.equal(objectCapacity(l.partSize, l), l.maxObjectSize, p);
  }
  // R2 keeps one part size; its objects end at 10,000 parts.
  const r2 = providerPreset("r2").limits;
  assert.equal(partSizeFor(5000, r2.partSize, r2), r2.partSize);
  assert.equal(objectCapacity(r2.partSize, r2), 10_000 * r2.partSize);
  // With 16 MiB x 8 the parts in memory stay at 144 MiB up to 64 MiB parts.
  assert.equal(memoryBound(16 * MiB, 8), 144 * MiB);
  assert.equal(memoryBound(16 * MiB, 8, 64 * MiB), 144 * MiB);
  assert.equal(memoryBound(16 * MiB, 8, 128 * MiB), 256 * MiB);
});

Deno.test("upload options outside the provider's limits are refused with the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s3 = s3Remote({ id: "x", provider: "aws", bucket: "b" });
    const never = new ReadableStream<Uint8Array>();
    await assert.rejects(
      uploadStream(s3, "k.seqn0", never, { partSize: MiB }),
      /below the minimum of 5242880 bytes; raise the part size/,
    );
    await assert.rejects(
      uploadStream(s3, "k.seqn0", never, { concurrency: 0 }),
      /concurrency 0 must be a whole number/,
    );
    assert.throws(
      () => s3Remote({ id: "x", provider: "aws", bucket: "" }),
      /bucket is empty/,
    );
    const local = localDirRemote({ id: "l", path: dir });
    await assert.rejects(
      uploadStream(local, "no-seqn-key", chunked(new Uint8Array(10)), {
        partSize: 4,
        maxObjectSize: 4,
      }),
      /has no \.seqn0 suffix/,
    );
    assert.deepEqual(await local.listOpenUploads(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("seqnKey replaces the .seqn0 suffix wherever it stands; manifestKey has no dots before .json", () => {
  assert.equal(seqnKey("a.ctid1.seqn0", 3), "a.ctid1.seqn3");
  assert.equal(seqnKey("a.seqn0.zst", 12), "a.seqn12.zst");
  assert.equal(seqnKey("a.seqn0", 0), "a.seqn0");
  assert.equal(seqnKey("a.seqn01x", 0), "a.seqn01x");
  const k = manifestKey("home.ctim2024.ctid5.seqn0");
  assert.equal(k, "snap2s3-manifests/home_ctim2024_ctid5_seqn0.json");
  assert.equal(k.split(".").length, 2);
});

/** An SDK-like service error. */
function sdkError(name: string, status: number, headers = {}): Error {
  return Object.assign(new Error(`${name} message`), {
    name,
    $metadata: { httpStatusCode: status },
    $response: { statusCode: status, headers },
  });
}

Deno.test("retry classifies transient and permanent faults", () => {
  for (
    const e of [
      sdkError("SlowDown", 503),
      sdkError("InternalError", 500),
      sdkError("Unknown", 502),
      sdkError("TooManyRequests", 429),
      sdkError("RequestTimeout", 400),
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
      Object.assign(new Error("x"), { name: "TimeoutError" }),
      new TypeError("error sending request for url: connection closed"),
    ]
  ) {
    assert.equal(classifyError(e).transient, true, String(e));
  }
  for (
    const e of [
      sdkError("AccessDenied", 403),
      sdkError("NoSuchBucket", 404),
      sdkError("InvalidAccessKeyId", 403),
      sdkError("SignatureDoesNotMatch", 403),
      sdkError("InvalidArgument", 400),
      new RangeError("bad part size"),
    ]
  ) {
    assert.equal(classifyError(e).transient, false, String(e));
  }
  assert.equal(
    classifyError(sdkError("SlowDown", 503, { "retry-after": "2" }))
      .retryAfterMs,
    2000,
  );
});

Deno.test("retry backs off with full jitter, honours Retry-After and stops at the attempt limit", async () => {
  const delays: number[] = [];
  let calls = 0;
  const policy = retryPolicy({
    attempts: 4,
    baseDelayMs: 10,
    maxDelayMs: 25,
    random: () => 0.5,
    onRetry: (i) => delays.push(i.delayMs),
  });
  await assert.rejects(
    withRetry("upload part 7 of k", () => {
      calls++;
      throw sdkError("InternalError", 500);
    }, policy),
    (e) => {
      assert.ok(e instanceof RemoteError);
      assert.match(e.message, /upload part 7 of k failed after 4 attempts/);
      return true;
    },
  );
  assert.equal(calls, 4);
  // ceilings 10, 20, 25 (capped) times the jitter draw 0.5
  assert.deepEqual(delays, [5, 10, 12.5]);
  // Retry-After wins over a shorter jittered delay.
  const waits: number[] = [];
  let n = 0;
  const got = await withRetry("head k", () => {
    if (n++ === 0) throw sdkError("SlowDown", 503, { "retry-after": "0.05" });
    return Promise.resolve("ok");
  }, retryPolicy({ random: () => 0, onRetry: (i) => waits.push(i.delayMs) }));
  assert.equal(got, "ok");
  assert.deepEqual(waits, [50]);
});

Deno.test("retry fails at once on permanent faults with what to fix, and within the time budget", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry("put k (s3://b/)", () => {
      calls++;
      throw sdkError("AccessDenied", 403);
    }, retryPolicy()),
    /put k \(s3:\/\/b\/\) failed: AccessDenied \(HTTP 403\).*check the key's permissions and the bucket policy/,
  );
  assert.equal(calls, 1);
  const t0 = performance.now();
  await assert.rejects(
    withRetry("get k", () => {
      throw sdkError("SlowDown", 503);
    }, retryPolicy({ attempts: 100, budgetMs: 200, baseDelayMs: 50 })),
    /get k failed after \d+ attempts/,
  );
  assert.ok(performance.now() - t0 < 2000);
});

Deno.test("download resumes with a ranged GET where a body broke off, and checks the whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-resume-" });
  try {
    const local = localDirRemote({ id: "l", path: dir });
    const data = randomBytes(3 * MiB + 17);
    const key = newKey();
    await uploadStream(local, key, chunked(data), { partSize: MiB });
    const ranges: (number | undefined)[] = [];
    let broken = 0;
    const flaky: Remote = {
      ...remoteMethods(local),
      async get(k, o) {
        const s = await local.get(k, o);
        if (k !== key) return s;
        ranges.push(o?.range?.start);
        if (broken++ >= 2) return s;
        // The first two bodies break off after 100,000 bytes.
        let sent = 0;
        const reader = s.getReader();
        return new ReadableStream({
          async pull(c) {
            if (sent >= 100_000) {
              reader.cancel();
              return c.error(
                Object.assign(new Error("read ECONNRESET"), {
                  code: "ECONNRESET",
                }),
              );
            }
            const r = await reader.read();
            if (r.done) return c.close();
            const chunk = r.value.subarray(0, 100_000 - sent);
            sent += chunk.length;
            c.enqueue(chunk);
          },
        });
      },
    };
    const d = await downloadStream(flaky, key, {
      rangeSize: 2 * MiB,
      concurrency: 1,
      retry: { baseDelayMs: 1 },
    });
    const back = await readAll(d.stream);
    assert.equal(sha256(back), sha256(data));
    // Range 1 broke at 100,000 and again at 200,000; then range 2 was read.
    assert.deepEqual(ranges, [0, 100_000, 200_000, 2 * MiB]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progress resets the failure count: a body that keeps breaking after new bytes is resumed to the end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-resume-" });
  try {
    const local = localDirRemote({ id: "l", path: dir });
    const data = randomBytes(MiB + 5);
    const key = newKey();
    await uploadStream(local, key, chunked(data), { partSize: MiB });
    let gets = 0;
    const flaky: Remote = {
      ...remoteMethods(local),
      async get(k, o) {
        const s = await local.get(k, o);
        if (k !== key) return s;
        gets++;
        return breakingAfter(s, 200_000);
      },
    };
    // Two attempts in a row would fail; each body brings 200,000 new bytes.
    const d = await downloadStream(flaky, key, {
      rangeSize: 2 * MiB,
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    assert.equal(sha256(await readAll(d.stream)), sha256(data));
    assert.equal(gets, 6);
    // Without progress the same two attempts give up.
    const stuck: Remote = {
      ...remoteMethods(local),
      async get(k, o) {
        const s = await local.get(k, o);
        return k === key ? breakingAfter(s, 0) : s;
      },
    };
    const d2 = await downloadStream(stuck, key, {
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    await assert.rejects(
      readAll(d2.stream),
      /failed after 2 attempts in a row without progress/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A body that errors (ECONNRESET) after `limit` bytes. */
function breakingAfter(
  s: ReadableStream<Uint8Array>,
  limit: number,
): ReadableStream<Uint8Array> {
  let sent = 0;
  const reader = s.getReader();
  return new ReadableStream({
    async pull(c) {
      if (sent >= limit) {
        reader.cancel();
        return c.error(
          Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
        );
      }
      const r = await reader.read();
      if (r.done) return c.close();
      const chunk = r.value.subarray(0, limit - sent);
      sent += chunk.length;
      c.enqueue(chunk);
    },
    cancel: (why) => reader.cancel(why),
  });
}

/** Aborts `ac` once `started` resolves, and says how long `p` took to reject after that. */
async function msToRejectAfterAbort(
  p: Promise<unknown>,
  started: Promise<void>,
  ac: AbortController,
): Promise<number> {
  p.catch(() => {});
  await started;
  await new Promise((r) => setTimeout(r, 100)); // well inside the backoff
  const t0 = performance.now();
  ac.abort(new DOMException("cancelled", "AbortError"));
  await assert.rejects(p, /cancelled/);
  return performance.now() - t0;
}

Deno.test("a cancelled download returns within a second while a retry backoff is pending", async (t) => {
  const backoff = { baseDelayMs: 30_000, maxDelayMs: 30_000, random: () => 1 };
  await t.step(
    "the remote's request retry (HTTP 503 from the store)",
    async () => {
      // A store that knows the object but answers every GET 503 SlowDown.
      let retrying!: () => void;
      const started = new Promise<void>((r) => (retrying = r));
      await using server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        (req) =>
          req.method === "HEAD"
            ? new Response(null, {
              headers: { "content-length": "1000", etag: '"abc"' },
            })
            : new Response(
              "<Error><Code>SlowDown</Code><Message>slow down</Message></Error>",
              { status: 503, headers: { "content-type": "application/xml" } },
            ),
      );
      const remote = s3Remote({
        id: "slow",
        provider: "custom",
        bucket: "b",
        endpoint: `http://127.0.0.1:${server.addr.port}`,
        forcePathStyle: true,
        accessKeyId: "k",
        secretAccessKey: "s",
        retry: { ...backoff, onRetry: () => retrying() },
      });
      try {
        const ac = new AbortController();
        const d = await downloadStream(remote, "obj", {
          verify: false,
          signal: ac.signal,
        });
        const ms = await msToRejectAfterAbort(readAll(d.stream), started, ac);
        assert.ok(ms < 1000, `took ${ms} ms`);
      } finally {
        remote.close();
      }
    },
  );
  await t.step(
    "the download's own resume (a body that broke off)",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "snap2s3-cancel-" });
      try {
        const local = localDirRemote({ id: "l", path: dir });
        const key = newKey();
        await uploadStream(local, key, chunked(randomBytes(1000)));
        const broken: Remote = {
          ...remoteMethods(local),
          async get(k, o) {
            const s = await local.get(k, o);
            return k === key ? breakingAfter(s, 0) : s;
          },
        };
        let retrying!: () => void;
        const started = new Promise<void>((r) => (retrying = r));
        const ac = new AbortController();
        const d = await downloadStream(broken, key, {
          signal: ac.signal,
          retry: { ...backoff, onRetry: () => retrying() },
        });
        const ms = await msToRejectAfterAbort(readAll(d.stream), started, ac);
        assert.ok(ms < 1000, `took ${ms} ms`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

Deno.test("a killed upload never leaves an object without its manifest, nor a .seqn0 before the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-kill-" });
  const lib = (p: string) =>
    JSON.stringify(new URL(`../lib/drivers/${p}`, import.meta.url).href);
  // The child uploads 5 MiB as objects of 2, 2 and 1 MiB and, when asked,
  // stops for good before its n-th store step (the manifest's put, then each
  // object's final put or complete), telling the parent so.
  const child = (key: string, stopAt: number) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `
        import { localDirRemote } from ${lib("remote/local_dir.ts")};
        import { uploadStream } from ${lib("transfer/upload.ts")};
        const r = localDirRemote({ id: "l", path: ${JSON.stringify(dir)} });
        let step = 0;
        const gate = async () => {
          if (step++ !== ${stopAt}) return;
          console.log("stopped");
          await new Promise(() => {});
        };
        const remote = {
          ...r,
          listLevel: r.listLevel.bind(r),
          list: r.list.bind(r),
          head: r.head.bind(r),
          get: r.get.bind(r),
          delete: r.delete.bind(r),
          listOpenUploads: r.listOpenUploads.bind(r),
          close: r.close.bind(r),
          put: async (k, d, o) => (await gate(), r.put(k, d, o)),
          createMultipartUpload: async (k, o) => {
            const mp = await r.createMultipartUpload(k, o);
            return {
              key: mp.key,
              uploadPart: mp.uploadPart.bind(mp),
              abort: mp.abort.bind(mp),
              complete: async (p) => (await gate(), mp.complete(p)),
            };
          },
        };
        const data = new Uint8Array(5 * 1024 * 1024);
        crypto.getRandomValues(data.subarray(0, 65536));
        await uploadStream(remote, ${
          JSON.stringify(key)
        }, new Blob([data]).stream(), {
          partSize: 1024 * 1024,
          maxObjectSize: 2 * 1024 * 1024,
          inlineHashing: true,
        });
        console.log("done");
        `,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  /** Objects at the remote's level, and whether each has its manifest. */
  const state = async () => {
    const level = (await Array.fromAsync(
      localDirRemote({ id: "l", path: dir })
        .listLevel(),
    )).map((o) => o.key);
    const manifests = new Set(
      (await Array.fromAsync(
        localDirRemote({ id: "l", path: dir }).listLevel(MANIFEST_PREFIX),
      )).map((o) => o.key),
    );
    return { level, manifests };
  };
  try {
    // Steps: 0 the manifest, 1 .seqn2, 2 .seqn1, 3 .seqn0; 4 never comes.
    for (let stopAt = 0; stopAt <= 4; stopAt++) {
      const key = newKey();
      const c = child(key, stopAt);
      let said = "";
      for await (const chunk of c.stdout.pipeThrough(new TextDecoderStream())) {
        said += chunk;
        if (said.includes("stopped")) c.kill("SIGKILL");
      }
      await c.status;
      assert.match(said, stopAt < 4 ? /stopped/ : /done/);
      const { level, manifests } = await state();
      const mine = level.filter((k) => k.replace(/seqn\d+/, "seqn0") === key);
      for (const k of mine) {
        assert.ok(
          manifests.has(manifestKey(key)),
          `step ${stopAt}: ${k} has no manifest`,
        );
      }
      assert.equal(mine.length, stopAt < 4 ? Math.max(0, stopAt - 1) : 3);
      if (stopAt < 4) {
        assert.ok(!mine.includes(key), `step ${stopAt}: .seqn0 is there`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
