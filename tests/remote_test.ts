import assert from "node:assert/strict";
import type { Remote } from "../lib/drivers/remote/remote.ts";
import {
  localDirRemote,
  PARTIAL_DIR,
  REMOTE_MARKER,
} from "../lib/drivers/remote/local_dir.ts";
import { s3ClientOf, s3Remote } from "../lib/drivers/remote/s3.ts";
import {
  b2Endpoint,
  providerPreset,
  r2Endpoint,
} from "../lib/drivers/remote/providers.ts";
import { NotFoundError, RemoteError } from "../lib/drivers/remote/errors.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

async function keys(remote: Remote, prefix?: string): Promise<string[]> {
  return (await Array.fromAsync(remote.list(prefix))).map((o) => o.key);
}

async function levelKeys(remote: Remote, prefix?: string): Promise<string[]> {
  return (await Array.fromAsync(remote.listLevel(prefix))).map((o) => o.key);
}

/** The behaviour every remote must have. */
async function remoteSuite(t: Deno.TestContext, remote: Remote): Promise<void> {
  await t.step("put, head, get, ranged get and delete", async () => {
    const put = await remote.put("a/b/obj", enc.encode("hello world"));
    assert.equal(put.size, 11);
    const h = await remote.head("a/b/obj");
    assert.equal(h?.size, 11);
    assert.equal(await text(await remote.get("a/b/obj")), "hello world");
    assert.equal(
      await text(await remote.get("a/b/obj", { range: { start: 6 } })),
      "world",
    );
    assert.equal(
      await text(await remote.get("a/b/obj", { range: { start: 2, end: 4 } })),
      "llo",
    );
    await remote.delete(["a/b/obj", "never-existed"]);
    assert.equal(await remote.head("a/b/obj"), null);
    await assert.rejects(remote.get("a/b/obj"), NotFoundError);
  });

  await t.step(
    "lists every page under a prefix, in key order, and deletes in batches",
    async () => {
      const names = Array.from(
        { length: 1005 },
        (_, i) => `many/k${String(i).padStart(4, "0")}`,
      );
      const one = new Uint8Array([1]);
      for (let i = 0; i < names.length; i += 50) {
        await Promise.all(
          names.slice(i, i + 50).map((k) => remote.put(k, one)),
        );
      }
      await remote.put("many-not/x", one);
      const listed = await Array.fromAsync(remote.list("many/"));
      assert.deepEqual(listed.map((o) => o.key), names);
      assert.ok(listed.every((o) => o.size === 1));
      assert.equal((await keys(remote, "many")).length, 1006);
      await remote.delete(names);
      assert.deepEqual(await keys(remote, "many"), ["many-not/x"]);
      await remote.delete(["many-not/x"]);
    },
  );

  await t.step(
    "a level listing holds only the keys at its own level, and no dot names",
    async () => {
      const one = new Uint8Array([1]);
      const all = [
        "lvl/a",
        "lvl/b.x",
        "lvl/.b.x.Xy12Ab",
        "lvl/archive/a",
        "lvl/archive/deep/c",
        "lvlother",
      ];
      for (const k of all) await remote.put(k, one);
      assert.deepEqual(await levelKeys(remote, "lvl/"), ["lvl/a", "lvl/b.x"]);
      assert.deepEqual(await levelKeys(remote, "lvl/b"), ["lvl/b.x"]);
      assert.deepEqual(await levelKeys(remote, "lvl/archive/"), [
        "lvl/archive/a",
      ]);
      assert.deepEqual(await levelKeys(remote, "lvl/none/"), []);
      // The deep listing still sees every key.
      assert.equal((await keys(remote, "lvl/")).length, 5);
      await remote.delete(all);
      assert.deepEqual(await keys(remote, "lvl"), []);
    },
  );

  await t.step(
    "a multipart upload is invisible until complete, and abort leaves nothing",
    async () => {
      const a = randomBytes(5 * MiB);
      const b = randomBytes(1234);
      const mp = await remote.createMultipartUpload("mp/one");
      // Parts may finish out of order.
      const r2 = await mp.uploadPart(2, b, a.length);
      const r1 = await mp.uploadPart(1, a, 0);
      assert.equal(await remote.head("mp/one"), null);
      assert.deepEqual(await keys(remote, "mp/"), []);
      assert.equal((await remote.listOpenUploads()).length, 1);
      const done = await mp.complete([r2, r1]);
      assert.equal(done.size, a.length + b.length);
      const back = new Uint8Array(
        await new Response(await remote.get("mp/one")).arrayBuffer(),
      );
      assert.deepEqual(back.subarray(0, 16), a.subarray(0, 16));
      assert.deepEqual(back.subarray(a.length), b);
      assert.deepEqual(await remote.listOpenUploads(), []);

      const gone = await remote.createMultipartUpload("mp/two");
      await gone.uploadPart(1, a, 0);
      await gone.abort();
      await gone.abort(); // twice is fine
      assert.equal(await remote.head("mp/two"), null);
      assert.deepEqual(await remote.listOpenUploads(), []);
      await remote.delete(["mp/one"]);
    },
  );

  await t.step(
    "an open upload is listed with its key and id, taken up again with the parts it holds, or aborted",
    async () => {
      const a = randomBytes(5 * MiB);
      const b = randomBytes(5 * MiB);
      const c = randomBytes(777);
      const mp = await remote.createMultipartUpload("mp/resume");
      const r1 = await mp.uploadPart(1, a, 0);
      await mp.uploadPart(2, b, a.length);
      const open = await remote.listOpenUploads("mp/");
      assert.deepEqual(open.map((u) => [u.key, u.id]), [["mp/resume", mp.id]]);
      assert.deepEqual(await remote.listOpenUploads("other/"), []);
      // Another run takes it up: it sees both parts, replaces one, adds one.
      assert.equal(await remote.resumeUpload("mp/other", mp.id), null);
      const again = await remote.resumeUpload("mp/resume", mp.id);
      assert.ok(again);
      assert.deepEqual(
        again.stored.map((p) => [p.partNumber, p.size, p.etag]),
        [[1, a.length, r1.etag], [2, b.length, again.stored[1].etag]],
      );
      const b2 = randomBytes(5 * MiB);
      const r2 = await again.uploadPart(2, b2, a.length);
      const r3 = await again.uploadPart(3, c, a.length + b2.length);
      await again.complete([again.stored[0], r2, r3]);
      const back = new Uint8Array(
        await new Response(await remote.get("mp/resume")).arrayBuffer(),
      );
      assert.equal(back.length, a.length + b2.length + c.length);
      assert.deepEqual(
        back.subarray(a.length, a.length + 64),
        b2.subarray(0, 64),
      );
      assert.deepEqual(back.subarray(back.length - c.length), c);
      assert.deepEqual(await remote.listOpenUploads(), []);
      await remote.delete(["mp/resume"]);

      const stale = await remote.createMultipartUpload("mp/stale");
      await stale.uploadPart(1, a, 0);
      const [listed] = await remote.listOpenUploads();
      await remote.abortOpenUpload(listed);
      await remote.abortOpenUpload(listed); // twice is fine
      assert.deepEqual(await remote.listOpenUploads(), []);
      assert.equal(await remote.resumeUpload("mp/stale", stale.id), null);
    },
  );
}

Deno.test("local directory remote passes the remote suite", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-remote-" });
  try {
    await remoteSuite(t, localDirRemote({ id: "usb", path: dir }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local directory remote maps / to subdirectories and writes atomically", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-remote-" });
  try {
    const remote = localDirRemote({ id: "nas", path: dir });
    await remote.put("host/sub/key.seqn0", enc.encode("x"));
    assert.equal(await Deno.readTextFile(`${dir}/host/sub/key.seqn0`), "x");
    // A write interrupted by a crash: the part is on disk in the partial
    // directory only, never under the final name, and is not listed.
    const mp = await remote.createMultipartUpload("host/sub/crash.seqn0");
    await mp.uploadPart(1, randomBytes(1000), 0);
    const fresh = localDirRemote({ id: "nas", path: dir });
    assert.deepEqual(await keys(fresh), ["host/sub/key.seqn0"]);
    assert.equal(await fresh.head("host/sub/crash.seqn0"), null);
    assert.equal((await fresh.listOpenUploads()).length, 1);
    assert.ok((await Deno.stat(`${dir}/${PARTIAL_DIR}`)).isDirectory);
    await mp.abort();
    assert.deepEqual(await fresh.listOpenUploads(), []);
    // Deleting the last key of a directory removes the emptied directories.
    await remote.delete(["host/sub/key.seqn0"]);
    await assert.rejects(Deno.stat(`${dir}/host`), Deno.errors.NotFound);
    for (const bad of ["../escape", "a//b", "/abs", `${PARTIAL_DIR}/x`, ""]) {
      await assert.rejects(
        remote.put(bad, enc.encode("x")),
        /cannot be stored in a local directory/,
        bad,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local directory remote writes its marker with the first object, and only then", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-remote-" });
  try {
    const remote = localDirRemote({ id: "usb", path: dir });
    assert.ok(remote.marker);
    assert.equal(remote.marker.path, `${dir}/${REMOTE_MARKER}`);
    assert.equal(await remote.marker.present(), false);
    assert.deepEqual(await keys(remote), []);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await remote.put("k", enc.encode("x"));
    assert.equal(await remote.marker.present(), true);
    assert.ok(Deno.statSync(`${dir}/${REMOTE_MARKER}`).isFile);
    // Not an object: no listing shows it.
    assert.deepEqual(await keys(remote), ["k"]);
    assert.deepEqual(await levelKeys(remote), ["k"]);
    const again = localDirRemote({ id: "usb", path: dir });
    assert.equal(await again.marker!.present(), true);
    await assert.rejects(
      remote.put(REMOTE_MARKER, enc.encode("x")),
      /cannot be stored in a local directory/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local directory remote creates files 0600 and directories 0700 whatever the umask", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap2s3-remote-" });
  try {
    // A child with umask 000 writes objects, a partial and a manifest-like key.
    const script = `
      import { localDirRemote } from ${
      JSON.stringify(
        new URL("../lib/drivers/remote/local_dir.ts", import.meta.url).href,
      )
    };
      const r = localDirRemote({ id: "u", path: ${JSON.stringify(dir)} });
      await r.put("top", new Uint8Array(10));
      await r.put("a/b/c/deep", new Uint8Array(10));
      const mp = await r.createMultipartUpload("open");
      await mp.uploadPart(1, new Uint8Array(10), 0);
    `;
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `umask 000 && exec "${Deno.execPath()}" eval --quiet "$0"`,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const modes: Record<string, string> = {};
    const walk = (rel: string) => {
      for (const e of Deno.readDirSync(`${dir}/${rel}`)) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        modes[p] = (Deno.statSync(`${dir}/${p}`).mode! & 0o777).toString(8);
        if (e.isDirectory) walk(p);
      }
    };
    walk("");
    // The partial file, beside it the key it is for and its durable parts.
    const partial = Object.keys(modes).find((p) =>
      p.startsWith(`${PARTIAL_DIR}/`) && !/\.(key|parts)$/.test(p)
    )!;
    assert.ok(partial, JSON.stringify(modes));
    assert.deepEqual(modes, {
      "top": "600",
      "a": "700",
      "a/b": "700",
      "a/b/c": "700",
      "a/b/c/deep": "600",
      [REMOTE_MARKER]: "600",
      [PARTIAL_DIR]: "700",
      [partial]: "600",
      [`${partial}.key`]: "600",
      [`${partial}.parts`]: "600",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local directory remote says when its directory is missing", async () => {
  const remote = localDirRemote({ id: "usb", path: "/nonexistent/snap2s3" });
  await assert.rejects(
    keys(remote),
    /does not exist; create it or fix the path/,
  );
});

Deno.test("provider presets: R2 and B2 endpoints, limits and checksums", () => {
  assert.equal(
    r2Endpoint("0123456789ABCDEF0123456789abcdef"),
    "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
  );
  assert.throws(() => r2Endpoint("acct"), /not 32 hex digits/);
  assert.equal(
    b2Endpoint("us-west-004"),
    "https://s3.us-west-004.backblazeb2.com",
  );
  assert.throws(() => b2Endpoint("west"), /does not look like us-west-004/);
  assert.equal(providerPreset("r2").limits.equalParts, true);
  assert.equal(providerPreset("aws").checksum, "sha256");
  assert.equal(providerPreset("custom").checksum, "signed-sha256");
  assert.equal(providerPreset("b2").checksum, "md5");
  assert.equal(providerPreset("custom").forcePathStyle, true);
  assert.throws(
    () => providerPreset("gcs" as never),
    /unknown S3 provider "gcs": use one of aws, r2, b2, custom/,
  );
  assert.throws(
    () => s3Remote({ id: "r", provider: "custom", bucket: "b", partSize: MiB }),
    /below the S3-compatible endpoint minimum/,
  );
});

Deno.test({
  name:
    "S3 remote on Ceph passes the remote suite, applies its key prefix, storage class and checksums",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    const make = (extra: Partial<Parameters<typeof s3Remote>[0]> = {}) =>
      s3Remote({
        id: "ceph",
        provider: "custom",
        bucket,
        endpoint: server.endpoint,
        region: server.region,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        ...extra,
      });
    const remote = make({ prefix: "profiles/laptop/" });
    const bare = make();
    try {
      await remoteSuite(t, remote);

      await t.step(
        "keys live under the prefix; listings strip it",
        async () => {
          await remote.put("k1", enc.encode("1"));
          assert.deepEqual(await keys(bare), ["profiles/laptop/k1"]);
          assert.deepEqual(await keys(remote), ["k1"]);
          await remote.delete(["k1"]);
        },
      );

      await t.step(
        "a level listing of the remote's own level leaves other prefixes and deeper keys out",
        async () => {
          const one = new Uint8Array([1]);
          const elsewhere = [
            "profiles/laptop-old/k",
            "profiles/laptop/archive/k2",
            "profiles/laptop/.k2.Xy12Ab",
            "profiles/k3",
            "k4",
          ];
          for (const k of elsewhere) await bare.put(k, one);
          await remote.put("k2", one);
          assert.deepEqual(await levelKeys(remote), ["k2"]);
          assert.deepEqual(await levelKeys(bare), ["k4"]);
          await bare.delete([...elsewhere, "profiles/laptop/k2"]);
        },
      );

      await t.step("storage class reaches the store", async () => {
        const sc = make({ storageClass: "STANDARD_IA" });
        await sc.put("cold", enc.encode("brr"));
        const [o] = await Array.fromAsync(sc.list("cold"));
        assert.equal(o.storageClass, "STANDARD_IA");
        await sc.delete(["cold"]);
        sc.close();
      });

      await t.step(
        "the store checks the Content-MD5 we send (a wrong one is refused)",
        async () => {
          const strict = make({
            checksum: "md5",
            retry: { attempts: 2, baseDelayMs: 1 },
          });
          await assert.rejects(
            strict.put("bad", enc.encode("data"), {
              checksums: { md5: new Uint8Array(16) },
            }),
            (e) => {
              assert.ok(e instanceof RemoteError);
              assert.equal(e.code, "BadDigest");
              return true;
            },
          );
          assert.equal(await strict.head("bad"), null);
          strict.close();
        },
      );

      await t.step(
        "the store checks the part's SHA-256 we sign as x-amz-content-sha256 (a wrong one is refused, on both HTTP stacks)",
        async () => {
          for (const http of ["node", "fetch"] as const) {
            const strict = make({
              http,
              checksum: "signed-sha256",
              retry: { attempts: 2, baseDelayMs: 1 },
            });
            const wrong = { sha256: new Uint8Array(32) };
            const refused = (e: unknown) => {
              assert.ok(e instanceof RemoteError);
              assert.equal(e.code, "XAmzContentSHA256Mismatch");
              return true;
            };
            await assert.rejects(
              strict.put("bad", enc.encode("data"), { checksums: wrong }),
              refused,
            );
            assert.equal(await strict.head("bad"), null);
            const mp = await strict.createMultipartUpload("bad-mp");
            await assert.rejects(
              mp.uploadPart(1, randomBytes(5 * MiB), 0, wrong),
              refused,
            );
            // The right hash (computed by the remote) goes through.
            const data = randomBytes(5 * MiB + 1);
            const r1 = await mp.uploadPart(1, data.subarray(0, 5 * MiB), 0);
            const r2 = await mp.uploadPart(2, data.subarray(5 * MiB), 5 * MiB);
            await mp.complete([r1, r2]);
            const back = new Uint8Array(
              await new Response(await strict.get("bad-mp")).arrayBuffer(),
            );
            assert.deepEqual(back, data);
            await strict.delete(["bad-mp"]);
            strict.close();
          }
        },
      );

      await t.step("the node HTTP stack works too", async () => {
        const node = make({ http: "node", prefix: "node/" });
        await node.put("x", enc.encode("via node"));
        assert.equal(await text(await node.get("x")), "via node");
        await node.delete(["x"]);
        node.close();
      });

      await t.step(
        "raw client of the remote shares its configuration",
        async () => {
          const client = await s3ClientOf(remote);
          assert.equal(await client.config.region(), "us-east-1");
        },
      );
    } finally {
      remote.close();
      bare.close();
    }
  },
});

/** A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl). */
async function makeCerts(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  for (
    const args of [
      [
        "req",
        "-x509",
        ...ec,
        "-nodes",
        "-subj",
        "/CN=snap2s3 test CA",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
      ],
      [
        "req",
        ...ec,
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
      ],
      [
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "leaf.pem",
        "-extfile",
        "leaf.ext",
      ],
    ]
  ) {
    const out = await new Deno.Command("openssl", { args, cwd: dir }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  }
}

Deno.test({
  name:
    "S3 remote over TLS: untrusted certificates fail at once saying what to set; a CA bundle or turning verification off works",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snap2s3-tls-" });
    await makeCerts(dir);
    let hits = 0;
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(`${dir}/leaf.pem`),
      key: await Deno.readTextFile(`${dir}/leaf.key`),
      onListen() {},
    }, (req) => {
      hits++;
      return new Response(req.method === "HEAD" ? null : "hello", {
        headers: { etag: '"abc"', "content-length": "5" },
      });
    });
    const endpoint = `https://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    const make = (extra: Partial<Parameters<typeof s3Remote>[0]>) =>
      s3Remote({
        id: "tls",
        provider: "custom",
        bucket: "b",
        endpoint,
        accessKeyId: "a",
        secretAccessKey: "b",
        ...extra,
      });
    try {
      const strict = make({});
      await assert.rejects(strict.head("k"), /CA bundle/);
      await assert.rejects(strict.get("k"), /TlsError.*CA bundle/);
      assert.equal(hits, 0);
      strict.close();
      for (
        const extra of [{ caBundle: `${dir}/ca.pem` }, { verifyTls: false }]
      ) {
        const r = make(extra);
        assert.deepEqual(
          { ...await r.head("k"), lastModified: undefined },
          {
            key: "k",
            size: 5,
            etag: "abc",
            lastModified: undefined,
            storageClass: undefined,
          },
        );
        assert.equal(await text(await r.get("k")), "hello");
        r.close();
      }
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
