import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { openRemote } from "../lib/app/remotes.ts";
import { remoteSchema } from "../lib/app/config/schema.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { parseBtrfs2s3Yaml } from "../lib/app/config/yaml.ts";
import type { Remote as RemoteConfig } from "../lib/core/config_types.ts";
import { TokenBucket } from "../lib/drivers/transfer/bandwidth.ts";
import { uploadStream } from "../lib/drivers/transfer/upload.ts";
import { downloadStream } from "../lib/drivers/transfer/download.ts";
import { randomBytes, sha256Hex } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { startS3Server } from "./fixtures/s3_server.ts";
import { startFaultProxy } from "./fixtures/fault_proxy.ts";

const MiB = 2 ** 20;

/** A clock that only moves when the bucket sleeps. */
function fakeClock() {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: (ms: number) => {
      c.t += ms;
      return Promise.resolve();
    },
  };
  return c;
}

Deno.test("a token bucket passes its burst at once, then keeps to the rate", async () => {
  const c = fakeClock();
  const b = new TokenBucket(10 * MiB, { burst: MiB, ...c });
  await b.take(MiB);
  assert.equal(c.t, 0);
  await b.take(20 * MiB);
  assert.ok(Math.abs(c.t - 2000) < 1e-6, `${c.t} ms for 20 MiB at 10 MiB/s`);
  // A pause refills at most the burst: 5 s idle buys 1 MiB, not 50.
  c.t += 5000;
  const before = c.t;
  await b.take(11 * MiB);
  assert.ok(Math.abs(c.t - before - 1000) < 1e-6, `${c.t - before} ms`);
});

Deno.test("a token bucket's default burst is a twentieth of a second's worth, and never above one second's", () => {
  assert.equal(new TokenBucket(20 * MiB).burst, MiB);
  assert.equal(new TokenBucket(1000).burst, 1000);
  assert.throws(
    () => new TokenBucket(MiB, { burst: 2 * MiB }),
    /at most one second's worth/,
  );
  assert.throws(() => new TokenBucket(0), /must be a positive number/);
});

Deno.test("a token bucket serves callers in order, and an aborted caller does not hold up the next", async () => {
  const b = new TokenBucket(1000, { burst: 100 });
  const order: string[] = [];
  const ac = new AbortController();
  const slow = b.take(200, ac.signal).then(
    () => order.push("aborted one passed"),
    () => order.push("aborted"),
  );
  const next = b.take(50).then(() => order.push("next"));
  ac.abort();
  await Promise.all([slow, next]);
  assert.deepEqual(order, ["aborted", "next"]);
});

Deno.test("bandwidth is a remote field in TypeScript and YAML configs; a bad one names the field and the form", () => {
  const config = {
    timezone: "UTC",
    sources: [],
    remotes: [{
      kind: "s3",
      id: "aws",
      bucket: "b",
      bandwidth: "20MiB/s",
    }],
  };
  assert.equal(
    (validateConfig(config).remotes[0] as { bandwidth?: string }).bandwidth,
    "20MiB/s",
  );
  try {
    validateConfig({
      ...config,
      remotes: [{ ...config.remotes[0], bandwidth: "fast" }],
    });
    assert.fail("accepted");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(
      e.message,
      /remotes\[0\]\.bandwidth: not a bandwidth: "fast"; expected <number><unit>\/s .* e\.g\. 20MiB\/s or 100Mbit\/s/,
    );
  }
  const yaml = parseBtrfs2s3Yaml(
    `timezone: UTC
sources: []
remotes:
  - id: main
    bandwidth: 100Mbit/s
    s3:
      bucket: data-backups
`,
    "btrfs2s3.yaml",
  );
  assert.equal(
    (yaml.remotes[0] as { bandwidth?: string }).bandwidth,
    "100Mbit/s",
  );
});

Deno.test("--bwlimit with a bad rate is exit 2 naming the flag, before the config is read", async () => {
  for (const command of ["update", "restore"]) {
    const out = memoryOutput();
    const args = command === "update"
      ? ["update", "/nonexistent/policy.ts", "--bwlimit", "fast"]
      : ["restore", "/nonexistent/policy.ts", "/mnt", "r", "--bwlimit", "9"];
    const code = await main(args, out);
    assert.equal(code, 2, command);
    assert.match(
      out.stderr.join("\n"),
      /--bwlimit "(fast|9)" is not <number><unit>\/s/,
    );
  }
});

Deno.test({
  name:
    "a 200 MiB upload at bandwidth 20MiB/s takes 10 s and never sends more than 25 MiB in a second; --bwlimit limits downloads",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    await using proxy = startFaultProxy({ upstream: server.endpoint });
    const config = (bandwidth?: string): RemoteConfig =>
      remoteSchema.parse({
        kind: "s3",
        id: "ceph",
        bucket,
        endpoint: proxy.endpoint,
        region: server.region,
        pathStyle: true,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        ...(bandwidth ? { bandwidth } : {}),
      });
    const data = randomBytes(200 * MiB);
    // What this machine needs for the same upload without a limit: a loaded
    // machine is slower with or without one, and the limit must add no more
    // than 10% to the 10 s it implies.
    const unlimited = openRemote(config());
    let baseline: number;
    try {
      const t0 = performance.now();
      await uploadStream(unlimited, "base.seqn0", _stream(data));
      baseline = (performance.now() - t0) / 1000;
    } finally {
      unlimited.close();
    }
    proxy.reset();
    const limited = openRemote(config("20MiB/s"));
    try {
      const t0 = performance.now();
      const r = await uploadStream(limited, "big.seqn0", _stream(data));
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.size, data.length);
      const up = proxy.traffic("up");
      console.log(
        `200 MiB at 20MiB/s: ${seconds.toFixed(2)} s (${
          baseline.toFixed(2)
        } s without a limit), most in one second ${
          (up.maxPerSecond / MiB).toFixed(1)
        } MiB, ${(up.bytes / MiB).toFixed(1)} MiB through the proxy`,
      );
      assert.ok(up.bytes >= data.length, `${up.bytes} bytes went up`);
      // Never faster than the limit allows, and at most 10% over it beyond
      // what the machine itself takes for the bytes.
      assert.ok(
        seconds >= 9 && seconds <= 11 + baseline,
        `took ${seconds} s (${baseline.toFixed(2)} s without a limit)`,
      );
      assert.ok(
        up.maxPerSecond <= 25 * MiB,
        `${up.maxPerSecond / MiB} MiB in one second`,
      );
    } finally {
      limited.close();
    }

    // Downloads: no bandwidth in the config, --bwlimit's override instead.
    const reader = openRemote(config(), { bandwidth: 20 * MiB });
    try {
      proxy.reset();
      const t0 = performance.now();
      const d = await downloadStream(reader, "big.seqn0");
      const back = new Uint8Array(await new Response(d.stream).arrayBuffer());
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(await sha256Hex(back), await sha256Hex(data));
      const down = proxy.traffic("down");
      console.log(
        `download at --bwlimit 20MiB/s: ${
          seconds.toFixed(2)
        } s, most in one second ${(down.maxPerSecond / MiB).toFixed(1)} MiB`,
      );
      // Socket buffers let the first few MiB ahead of the reader; the pace holds.
      assert.ok(
        seconds >= 9 && seconds <= 11.5 + baseline,
        `took ${seconds} s (${baseline.toFixed(2)} s up without a limit)`,
      );
    } finally {
      reader.close();
    }
  },
});

/** The bytes as a stream of 1 MiB chunks. */
function _stream(data: Uint8Array): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) {
        c.close();
        return;
      }
      c.enqueue(data.slice(off, off + MiB));
      off += MiB;
    },
  });
}
