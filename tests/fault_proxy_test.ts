import assert from "node:assert/strict";
import {
  FAULT_KINDS,
  type FaultKind,
  type FaultProxy,
  seededRandom,
  startFaultProxy,
} from "./fixtures/fault_proxy.ts";

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/** A tiny upstream: GET /bytes/<n> returns n bytes; POST returns the body's length. */
function startUpstream(): { url: string; close: () => Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" || req.method === "PUT") {
        const body = new Uint8Array(await req.arrayBuffer());
        return new Response(`got ${body.length}`);
      }
      const m = url.pathname.match(/^\/bytes\/(\d+)$/);
      if (m) {
        const n = Number(m[1]);
        const data = new Uint8Array(n).map((_, i) => i % 251);
        if (url.searchParams.has("chunked")) {
          return new Response(
            new ReadableStream({
              start(c) {
                c.enqueue(data.subarray(0, n >> 1));
                c.enqueue(data.subarray(n >> 1));
                c.close();
              },
            }),
          );
        }
        return new Response(data);
      }
      return new Response("ok");
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  return { url: `http://127.0.0.1:${port}`, close: () => server.shutdown() };
}

type Outcome = FaultKind | "ok";

/**
 * One HTTP/1.1 request on a fresh connection (`Connection: close`), and what
 * the client saw, classified into the fault kinds.
 */
async function request(
  proxy: FaultProxy,
  method: string,
  path: string,
  body?: Uint8Array,
  timeoutMs = 150,
): Promise<{ outcome: Outcome; status?: number; body?: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Connection: close\r\nContent-Length: ${body?.length ?? 0}\r\n\r\n`;
  let received = new Uint8Array(0);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    try {
      await conn.write(_enc.encode(head));
      if (body) {
        let off = 0;
        while (off < body.length) off += await conn.write(body.subarray(off));
      }
    } catch {
      // The proxy cut the request; the read below sees the rest.
    }
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      const next = new Uint8Array(received.length + n);
      next.set(received);
      next.set(buf.subarray(0, n), received.length);
      received = next;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  if (received.length === 0) {
    return { outcome: timedOut ? "stall" : "resetRequest" };
  }
  const text = _dec.decode(received);
  const end = text.indexOf("\r\n\r\n");
  const status = Number(text.split(" ")[1]);
  if (end < 0) return { outcome: "resetResponse", status };
  const lengthMatch = text.slice(0, end).match(/content-length: *(\d+)/i);
  const respBody = received.subarray(end + 4);
  if (lengthMatch && respBody.length < Number(lengthMatch[1])) {
    return { outcome: "resetResponse", status };
  }
  if (status === 500 && text.includes("<Code>InternalError</Code>")) {
    return { outcome: "error500", status };
  }
  if (status === 503 && text.includes("<Code>SlowDown</Code>")) {
    return { outcome: "slowDown", status };
  }
  return { outcome: "ok", status, body: respBody };
}

async function inBatches<T>(
  n: number,
  width: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) {
    out.push(
      ...await Promise.all(
        Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j)),
      ),
    );
  }
  return out;
}

Deno.test("fault proxy passes requests and bodies through unchanged when no fault is set", async () => {
  const up = startUpstream();
  await using proxy = startFaultProxy({ upstream: up.url });
  try {
    const body = new Uint8Array(300_000).map((_, i) => i % 7);
    const post = await request(proxy, "POST", "/upload", body, 5000);
    assert.equal(post.outcome, "ok");
    assert.equal(_dec.decode(post.body), "got 300000");
    const get = await request(proxy, "GET", "/bytes/1000000", undefined, 5000);
    assert.equal(get.status, 200);
    assert.equal(get.body!.length, 1_000_000);
    assert.ok(get.body!.every((b, i) => b === i % 251));
    // A keep-alive client (fetch) through the proxy, including a chunked response.
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${proxy.endpoint}/bytes/70000?chunked`);
      const b = new Uint8Array(await r.arrayBuffer());
      assert.equal(b.length, 70000);
      assert.ok(b.every((x, j) => x === j % 251));
    }
    const head = await fetch(`${proxy.endpoint}/bytes/10`, { method: "HEAD" });
    assert.equal(head.status, 200);
    await head.body?.cancel();
    assert.equal(proxy.requests, 6);
    assert.deepEqual(
      Object.values(proxy.counts).reduce((a, b) => a + b, 0),
      0,
    );
  } finally {
    await proxy.close();
    await up.close();
  }
});

for (const kind of FAULT_KINDS) {
  Deno.test(`fault proxy injects ${kind} at the configured rate (1000 requests at p=0.2)`, async () => {
    const up = startUpstream();
    const proxy = startFaultProxy({
      upstream: up.url,
      seed: 42,
      faults: { [kind]: 0.2 },
      // A stall outlasts the client's timeout by far, and the timeout outlasts a
      // normal request by far even on a loaded machine, so neither is mistaken.
      stallMs: 8000,
      retryAfterSeconds: 1,
    });
    try {
      const body = new Uint8Array(64 * 1024);
      const seen = await inBatches(
        1000,
        kind === "stall" ? 250 : 50,
        (i) =>
          request(
            proxy,
            i % 2 ? "POST" : "GET",
            i % 2 ? "/upload" : "/bytes/200000",
            i % 2 ? body : undefined,
            kind === "stall" ? 3000 : 5000,
          ),
      );
      const injected = proxy.counts[kind];
      // Binomial(1000, 0.2): mean 200, standard deviation 12.6.
      assert.ok(
        injected >= 160 && injected <= 240,
        `${kind}: ${injected} of 1000`,
      );
      for (const other of FAULT_KINDS) {
        if (other !== kind) assert.equal(proxy.counts[other], 0);
      }
      assert.equal(proxy.requests, 1000);
      // The client saw exactly the faults the proxy counted, and nothing else.
      const observed = seen.filter((s) => s.outcome === kind).length;
      const ok = seen.filter((s) => s.outcome === "ok").length;
      assert.equal(observed, injected);
      assert.equal(ok, 1000 - injected);
      assert.equal(
        proxy.log.filter((l) => l.fault === kind).length,
        injected,
      );
    } finally {
      await proxy.close();
      await up.close();
    }
  });
}

Deno.test("fault proxy decisions are deterministic for a seed and differ between seeds", async () => {
  const up = startUpstream();
  const faults = { error500: 0.1, slowDown: 0.1, resetResponse: 0.1 };
  const run = async (seed: number) => {
    await using proxy = startFaultProxy({ upstream: up.url, seed, faults });
    for (let i = 0; i < 60; i++) {
      await request(proxy, "GET", "/bytes/1000", undefined, 5000);
    }
    return proxy.log.map((l) => l.fault);
  };
  try {
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.some((f) => f !== null));
  } finally {
    await up.close();
  }
});

Deno.test("fault proxy sends Retry-After with SlowDown and a filter limits faults to chosen requests", async () => {
  const up = startUpstream();
  await using proxy = startFaultProxy({
    upstream: up.url,
    faults: { slowDown: 1 },
    retryAfterSeconds: 3,
    filter: (r) => r.method === "POST",
  });
  try {
    const r = await fetch(`${proxy.endpoint}/x`, { method: "POST", body: "a" });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "3");
    assert.match(await r.text(), /<Code>SlowDown<\/Code>/);
    const g = await request(proxy, "GET", "/bytes/5", undefined, 5000);
    assert.equal(g.outcome, "ok");
    assert.equal(proxy.counts.slowDown, 1);
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("seeded generator is uniform enough for rates", () => {
  const r = seededRandom(123);
  let below = 0;
  for (let i = 0; i < 100_000; i++) if (r() < 0.3) below++;
  assert.ok(Math.abs(below - 30_000) < 600, String(below));
});

Deno.test("fault proxy rejects probabilities that cannot be rates", () => {
  assert.throws(
    () =>
      startFaultProxy({ upstream: "http://127.0.0.1:1", faults: { stall: 2 } }),
    /not in \[0, 1\]/,
  );
  assert.throws(
    () =>
      startFaultProxy({
        upstream: "http://127.0.0.1:1",
        faults: { stall: 0.6, error500: 0.6 },
      }),
    /add up to/,
  );
});
