import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MiB } from "../lib/core/format.ts";
import {
  fitMemory,
  minimumMemory,
} from "../lib/drivers/remote/memory_budget.ts";
import { providerPreset } from "../lib/drivers/remote/providers.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { uploadStream } from "../lib/drivers/transfer/upload.ts";
import {
  objectCapacity,
  partSizeFor,
  uploadShape,
} from "../lib/drivers/transfer/part_schedule.ts";
import { BufferPool } from "../lib/drivers/transfer/_buffer_pool.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import { parseBtrfs2s3Yaml } from "../lib/app/config/yaml.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { openRemote } from "../lib/app/remotes.ts";
import type { Remote as RemoteConfig } from "../lib/core/config_types.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { startS3Server } from "./fixtures/s3_server.ts";
import { startFaultProxy } from "./fixtures/fault_proxy.ts";

const aws = providerPreset("aws").limits;
const r2 = providerPreset("r2").limits;

Deno.test("a memory budget sets part size × concurrency within the provider's limits", () => {
  const shape = (mib: number, l = aws) => {
    const s = fitMemory(mib * MiB, l);
    return [s.partSize / MiB, s.concurrency];
  };
  // About an eighth per part (5 MiB to 16 MiB), as many sent as fit beside the one read.
  assert.deepEqual(shape(10), [5, 1]);
  assert.deepEqual(shape(64), [8, 7]);
  assert.deepEqual(shape(96), [12, 7]);
  assert.deepEqual(shape(128), [16, 7]);
  assert.deepEqual(shape(256), [16, 15]);
  // R2's equal parts are a third of it: their size is what makes objects large.
  assert.deepEqual(shape(96, r2), [32, 2]);
  assert.deepEqual(shape(64, r2), [21, 2]);
  for (const mib of [10, 64, 96, 128, 256, 1000]) {
    for (const l of [aws, r2]) {
      const s = fitMemory(mib * MiB, l);
      assert.ok(s.partSize >= l.minPartSize);
      assert.ok(s.partSize * (s.concurrency + 1) <= mib * MiB, `${mib}`);
    }
  }
  // A given part size or concurrency is kept; the other fits around it.
  assert.deepEqual(fitMemory(64 * MiB, aws, { partSize: 32 * MiB }), {
    partSize: 32 * MiB,
    concurrency: 1,
  });
  assert.deepEqual(fitMemory(64 * MiB, aws, { concurrency: 3 }), {
    partSize: 16 * MiB,
    concurrency: 3,
  });
  assert.equal(minimumMemory(aws), 10 * MiB);
  assert.throws(
    () => fitMemory(9 * MiB, aws),
    /memory 9437184 bytes is below the minimum of 10485760 bytes \(10 MiB: two parts of the provider's smallest size\); raise the memory budget/,
  );
  // The presets fill the default budget.
  assert.equal(aws.memory, 80 * MiB);
  assert.deepEqual([aws.partSize, aws.concurrency], [10 * MiB, 7]);
  assert.deepEqual([r2.partSize, r2.concurrency], [26 * MiB, 2]);
});

Deno.test("under a budget parts grow to a third of it and fewer are sent at once; objects end sooner", () => {
  const remote = { id: "x", limits: aws };
  const s = uploadShape(remote, {});
  assert.deepEqual([s.first, s.concurrency, s.memory], [
    10 * MiB,
    7,
    80 * MiB,
  ]);
  assert.equal(s.limits.maxPartSize, 26 * MiB);
  assert.equal(partSizeFor(1001, s.first, s.limits), 20 * MiB);
  assert.equal(partSizeFor(2001, s.first, s.limits), 26 * MiB);
  assert.equal(s.objMax, objectCapacity(s.first, s.limits));
  assert.equal(Math.round(s.objMax / 1024 ** 3), 232);
  // About 3.2 GiB of budget reach the 5 TiB object.
  const big = uploadShape(remote, { memory: 3264 * MiB });
  assert.equal(big.objMax, aws.maxObjectSize);
  // Sizes given alone make their own budget, as before budgets.
  const given = uploadShape(remote, { partSize: 5 * MiB, concurrency: 2 });
  assert.equal(given.memory, 15 * MiB);
  // Sizes that do not fit the budget given are refused, saying what to change.
  assert.throws(
    () =>
      uploadShape(remote, {
        memory: 20 * MiB,
        partSize: 8 * MiB,
        concurrency: 2,
      }),
    /remote x: part size 8388608 × \(concurrency 2 \+ 1\) is above the memory budget of 20971520 bytes; lower the part size or concurrency, or raise the memory budget/,
  );
  assert.throws(
    () => s3Remote({ id: "y", provider: "aws", bucket: "b", memory: MiB }),
    /remote y: memory 1048576 bytes is below the minimum/,
  );
  const small = s3Remote({
    id: "z",
    provider: "custom",
    bucket: "b",
    memory: 64 * MiB,
  });
  assert.deepEqual(
    [small.limits.partSize, small.limits.concurrency, small.limits.memory],
    [8 * MiB, 7, 64 * MiB],
  );
});

Deno.test("the buffer pool never holds more than its budget, counting the buffers it keeps for reuse", async () => {
  const pool = new BufferPool(30);
  const a = await pool.get(10);
  const b = await pool.get(10);
  const c = await pool.get(10);
  let waited = false;
  const d = pool.get(10).then((x) => {
    waited = true;
    return x;
  });
  await Promise.resolve();
  assert.equal(waited, false);
  pool.put(a.buffer);
  const d1 = await d;
  // The buffer given back is the one handed out again: nothing new allocated.
  assert.equal(d1.buffer, a.buffer);
  assert.equal(pool.heldBytes, 30);
  // A larger size drops free buffers to make room, never passing the budget.
  pool.put(b.buffer);
  pool.put(c.buffer);
  const e = await pool.get(20);
  assert.equal(e.length, 20);
  assert.ok(pool.heldBytes <= 30, `${pool.heldBytes}`);
  pool.put(d1.buffer);
  pool.forget(20);
  assert.ok(pool.peakBytes <= 30);
  pool.fail(new Error("stop"));
  await assert.rejects(pool.get(10), /stop/);
});

Deno.test("memoryMiB (YAML memory_mib) is a remote field: it sets the remote's part size and concurrency; sizes that do not fit are refused naming the fields", () => {
  const config = (remote: Record<string, unknown>) => ({
    timezone: "UTC",
    sources: [],
    remotes: [{ kind: "s3", id: "aws", bucket: "b", ...remote }],
  });
  const valid = validateConfig(config({ memoryMiB: 64 }));
  const remote = openRemote(valid.remotes[0] as RemoteConfig);
  assert.deepEqual(
    [remote.limits.memory, remote.limits.partSize, remote.limits.concurrency],
    [64 * MiB, 8 * MiB, 7],
  );
  remote.close();
  const problem = (remote: Record<string, unknown>) => {
    try {
      validateConfig(config(remote));
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    assert.fail("accepted");
  };
  assert.match(
    problem({ memoryMiB: 8 }),
    /^remotes\[0\]\.memoryMiB: must be an integer from 10 to 65536 \(memory budget of part buffers in MiB\), got 8$/,
  );
  assert.match(
    problem({ memoryMiB: 64, partSizeMiB: 16, concurrency: 4 }),
    /^remotes\[0\]\.memoryMiB: 64 MiB cannot hold 5 parts of 16 MiB \(concurrency \+ the one being read\); raise memoryMiB to 80, or lower partSizeMiB or concurrency$/,
  );
  assert.match(
    problem({ memoryMiB: 20, partSizeMiB: 16 }),
    /^remotes\[0\]\.memoryMiB: 20 MiB cannot hold two parts of 16 MiB/,
  );
  const yaml = parseBtrfs2s3Yaml(
    `timezone: UTC
sources: []
remotes:
  - id: main
    memory_mib: 128
    s3:
      bucket: data-backups
`,
    "btrfs2s3.yaml",
  );
  assert.equal(
    (yaml.remotes[0] as { memoryMiB?: number }).memoryMiB,
    128,
  );
  assert.throws(
    () =>
      parseBtrfs2s3Yaml(
        `timezone: UTC
sources: []
remotes:
  - id: main
    memory_mib: 4
    s3:
      bucket: data-backups
`,
        "btrfs2s3.yaml",
      ),
    /remotes\[0\]\.memory_mib: must be an integer from 10 to 65536/,
  );
});

Deno.test({
  name:
    "an upload through a stalling store never holds more part bytes than its memory budget",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    // Parts stall past the client's timeout and are sent again from memory,
    // while the producer, always ready, would read ahead without limit.
    await using proxy = startFaultProxy({
      upstream: server.endpoint,
      seed: 7,
      faults: { stall: 0.3 },
      stallMs: 4000,
      filter: (r) => r.method === "PUT" && r.target.includes("partNumber="),
    });
    const memory = 20 * MiB;
    const remote = s3Remote({
      id: "slow",
      provider: "custom",
      bucket,
      endpoint: proxy.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      memory,
      timeoutMs: 1000,
      retry: { attempts: 20, baseDelayMs: 10, maxDelayMs: 100 },
    });
    try {
      const part = remote.limits.partSize;
      assert.deepEqual([part, remote.limits.concurrency], [5 * MiB, 3]);
      const data = randomBytes(12 * part + 1234);
      let ahead = 0;
      const result = await uploadStream(remote, "k.seqn0", _chunks(data), {
        onProgress: (p) => {
          ahead = Math.max(ahead, (p.bytesRead ?? 0) - p.bytes);
        },
      });
      assert.equal(
        result.sha256,
        createHash("sha256").update(data).digest("hex"),
      );
      assert.ok(proxy.counts.stall > 0, "no part stalled");
      // The pool's own count: buffers in use plus those kept for reuse.
      assert.ok(
        result.peakBufferBytes <= memory,
        `held ${result.peakBufferBytes} bytes of parts, budget ${memory}`,
      );
      // Bytes read but not yet acknowledged sit in part buffers: the
      // budget, not the producer, set how far the reader got ahead.
      assert.ok(ahead <= memory, `read ${ahead} bytes ahead`);
      assert.ok(ahead > memory - 2 * part, `read only ${ahead} bytes ahead`);
    } finally {
      remote.close();
    }
  },
});

/** `data` as a stream of 1 MiB chunks, always ready. */
function _chunks(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(data.slice(at, at + MiB));
      at += MiB;
    },
  });
}
