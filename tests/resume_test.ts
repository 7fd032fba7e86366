/**
 * Resuming an upload a crash interrupted, at the transfer layer, on the local
 * directory and on Ceph: the crash is played by a remote whose aborts and a
 * journal whose clear never happen (what SIGKILL leaves: the multipart upload
 * open, the journal on disk).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Remote } from "../lib/drivers/remote/remote.ts";
import { localDirRemote } from "../lib/drivers/remote/local_dir.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { uploadStream } from "../lib/drivers/transfer/upload.ts";
import {
  fileJournal,
  readJournal,
  type UploadJournal,
} from "../lib/drivers/transfer/upload_journal.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

const MiB = 1024 * 1024;
const P = 5 * MiB;
const KEY =
  "home.ctim2024-05-01T10:00:00+02:00.ctid1234.uuid3fd11d8e-8110-4cd0-b85c-bae3dda86a3d.sndp00000000-0000-0000-0000-000000000000.prnt9e3e1b4a-2b7b-4d0f-9f51-4b9fbe0e0b11.mdvn1.seqn0";

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `data` in 1 MiB chunks; errors after `failAt` bytes when given (the producer "dies"). */
function streamOf(
  data: Uint8Array,
  failAt?: number,
): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (failAt !== undefined && off >= failAt) {
        return c.error(new Error("killed"));
      }
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + MiB));
      off += MiB;
    },
  }, { highWaterMark: 0 });
}

/** The remote as a killed process leaves it: nothing aborted, nothing deleted. */
function crashing(r: Remote): Remote {
  return {
    ...methods(r),
    async createMultipartUpload(key, o) {
      const mp = await r.createMultipartUpload(key, o);
      return {
        key,
        id: mp.id,
        uploadPart: (n, d, off, sums) => mp.uploadPart(n, d, off, sums),
        complete: (p) => mp.complete(p),
        abort: () => Promise.resolve(),
      };
    },
    delete: () => Promise.resolve(),
  };
}

/** Counts the part bytes sent. */
function counting(r: Remote, sent: { bytes: number }): Remote {
  return {
    ...methods(r),
    async createMultipartUpload(key, o) {
      const mp = await r.createMultipartUpload(key, o);
      return {
        key,
        id: mp.id,
        uploadPart: (n, d, off, sums) => {
          sent.bytes += d.length;
          return mp.uploadPart(n, d, off, sums);
        },
        complete: (p) => mp.complete(p),
        abort: () => mp.abort(),
      };
    },
    async resumeUpload(key, id) {
      const mp = await r.resumeUpload(key, id);
      if (!mp) return null;
      return {
        key,
        id,
        stored: mp.stored,
        uploadPart: (n, d, off, sums) => {
          sent.bytes += d.length;
          return mp.uploadPart(n, d, off, sums);
        },
        complete: (p) => mp.complete(p),
        abort: () => mp.abort(),
      };
    },
  };
}

function methods(r: Remote): Remote {
  return {
    id: r.id,
    kind: r.kind,
    limits: r.limits,
    partChecksum: r.partChecksum,
    objectMetadata: r.objectMetadata,
    list: (p) => r.list(p),
    listLevel: (p) => r.listLevel(p),
    head: (k, o) => r.head(k, o),
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

/** A journal whose clear never happens (the process died first). */
function undying(j: UploadJournal): UploadJournal {
  return { ...j, clear: () => Promise.resolve() };
}

async function readAll(r: Remote, key: string): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await r.get(key)).arrayBuffer());
}

async function resumeSuite(t: Deno.TestContext, remote: Remote, dir: string) {
  const options = { partSize: P, concurrency: 2, inlineHashing: true };
  await t.step(
    "a crashed upload is resumed: only the parts not stored are sent",
    async () => {
      const path = `${dir}/a.upload`;
      const data = randomBytes(20 * P + 12345);
      await assert.rejects(
        uploadStream(crashing(remote), KEY, streamOf(data, 12 * P), {
          ...options,
          journal: undying(fileJournal(path)),
          fingerprint: "f1",
        }),
      );
      const journal = await readJournal(path);
      assert.ok(journal, "the crash left the journal");
      const recorded = [...journal.parts.values()][0].size;
      assert.ok(recorded >= 8, `${recorded} parts recorded`);
      assert.equal((await remote.listOpenUploads()).length, 1);
      const sent = { bytes: 0 };
      const r = await uploadStream(
        counting(remote, sent),
        KEY,
        streamOf(data),
        {
          ...options,
          journal: fileJournal(path),
          fingerprint: "f1",
        },
      );
      assert.ok(r.resumed);
      assert.equal(r.reused.parts, recorded);
      assert.equal(r.reused.bytes, recorded * P);
      assert.equal(sent.bytes, data.length - recorded * P);
      assert.equal(r.sha256, sha256(data));
      assert.equal(sha256(await readAll(remote, KEY)), sha256(data));
      assert.deepEqual(await remote.listOpenUploads(), []);
      assert.equal(await readJournal(path), null, "the journal is removed");
      await remote.delete([KEY]);
    },
  );

  await t.step(
    "a stream that comes out different is sent whole into the same upload",
    async () => {
      const path = `${dir}/b.upload`;
      const first = randomBytes(10 * P);
      await assert.rejects(
        uploadStream(crashing(remote), KEY, streamOf(first, 6 * P), {
          ...options,
          journal: undying(fileJournal(path)),
          fingerprint: "f1",
        }),
      );
      const again = randomBytes(10 * P); // e.g. age: new keys each run
      const sent = { bytes: 0 };
      const r = await uploadStream(
        counting(remote, sent),
        KEY,
        streamOf(again),
        {
          ...options,
          journal: fileJournal(path),
          fingerprint: "f1",
        },
      );
      assert.ok(r.resumed);
      assert.deepEqual(r.reused, { parts: 0, bytes: 0 });
      assert.equal(sent.bytes, again.length);
      assert.equal(sha256(await readAll(remote, KEY)), sha256(again));
      assert.deepEqual(await remote.listOpenUploads(), []);
      await remote.delete([KEY]);
    },
  );

  await t.step(
    "another fingerprint does not resume: the old upload is aborted",
    async () => {
      const path = `${dir}/c.upload`;
      const data = randomBytes(8 * P);
      await assert.rejects(
        uploadStream(crashing(remote), KEY, streamOf(data, 5 * P), {
          ...options,
          journal: undying(fileJournal(path)),
          fingerprint: "zstd -3",
        }),
      );
      const [old] = await remote.listOpenUploads();
      const sent = { bytes: 0 };
      const r = await uploadStream(
        counting(remote, sent),
        KEY,
        streamOf(data),
        {
          ...options,
          journal: fileJournal(path),
          fingerprint: "zstd -19",
        },
      );
      assert.ok(!r.resumed);
      assert.equal(sent.bytes, data.length);
      assert.deepEqual(await remote.listOpenUploads(), []);
      assert.equal(await remote.resumeUpload(KEY, old.id), null);
      await remote.delete([KEY]);
    },
  );
}

Deno.test("local directory: a crashed upload resumes", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/remote`);
    await resumeSuite(
      t,
      localDirRemote({ id: "usb", path: `${dir}/remote` }),
      dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Ceph: a crashed upload resumes",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startS3Server();
    const dir = await Deno.makeTempDir();
    const remote = s3Remote({
      id: "ceph",
      provider: "custom",
      bucket: await server.createBucket(),
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    });
    try {
      await resumeSuite(t, remote, dir);
    } finally {
      remote.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
