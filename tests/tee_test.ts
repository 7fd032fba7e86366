import assert from "node:assert/strict";
import { teeBounded } from "../lib/drivers/pipe/tee.ts";

const KiB = 1024;

/** A source of `chunks` chunks of `size` bytes (byte i of chunk c is (c + i) % 251), counting reads. */
function counted(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === chunks) {
        controller.close();
        return;
      }
      const c = state.pulled++;
      controller.enqueue(
        Uint8Array.from({ length: size }, (_, i) => (c + i) % 251),
      );
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

function expected(chunks: number, size: number): Uint8Array {
  const out = new Uint8Array(chunks * size);
  for (let c = 0; c < chunks; c++) {
    for (let i = 0; i < size; i++) out[c * size + i] = (c + i) % 251;
  }
  return out;
}

async function readAll(
  s: ReadableStream<Uint8Array>,
  delayMs = 0,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) {
    parts.push(c);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const tick = () => new Promise((r) => setTimeout(r, 20));

Deno.test("every branch of a bounded tee gets every byte in order, readers fast and slow", async () => {
  const { stream, state } = counted(40, 3 * KiB);
  const [a, b, c] = teeBounded(stream, 3, { maxQueuedBytes: 8 * KiB });
  const [x, y, z] = await Promise.all([
    readAll(a),
    readAll(b, 2),
    readAll(c, 1),
  ]);
  const want = expected(40, 3 * KiB);
  assert.deepEqual(x, want);
  assert.deepEqual(y, want);
  assert.deepEqual(z, want);
  assert.equal(state.cancelled, false);
});

Deno.test("a bounded tee reads no further than the slowest branch's queue allows", async () => {
  const { stream, state } = counted(1000, 4 * KiB);
  const [fast, stalled] = teeBounded(stream, 2, { maxQueuedBytes: 16 * KiB });
  const reader = fast.getReader();
  // The fast branch reads as much as it can get; the other reads nothing.
  const got: number[] = [];
  const reading = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      got.push(r.value.length);
    }
  })();
  await tick();
  // 16 KiB of 4 KiB chunks fill the stalled queue: 4 chunks read, not 1000.
  assert.ok(state.pulled <= 5, `pulled ${state.pulled} chunks`);
  assert.ok(got.length <= 5);
  // Once the stalled branch reads, both move on together.
  const [, rest] = await Promise.all([reading, readAll(stalled)]);
  assert.equal(rest.length, 1000 * 4 * KiB);
  assert.equal(got.length, 1000);
});

Deno.test("a cancelled branch stops holding the others back; the input goes on", async () => {
  const { stream, state } = counted(200, 4 * KiB);
  const [a, b] = teeBounded(stream, 2, { maxQueuedBytes: 8 * KiB });
  await tick();
  await a.cancel(new Error("remote a failed"));
  const rest = await readAll(b);
  assert.deepEqual(rest, expected(200, 4 * KiB));
  assert.equal(state.cancelled, false);
});

Deno.test("the input is cancelled once every branch is, with the last reason", async () => {
  const { stream, state } = counted(1000, 4 * KiB);
  const [a, b] = teeBounded(stream, 2, { maxQueuedBytes: 8 * KiB });
  await tick();
  await a.cancel("first");
  assert.equal(state.cancelled, false);
  await b.cancel("second");
  assert.equal(state.cancelled, true);
  assert.equal(state.reason, "second");
  assert.ok(state.pulled < 1000);
});

Deno.test("an input error errors every branch still reading", async () => {
  let n = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (n++ === 3) controller.error(new Error("btrfs send died"));
      else controller.enqueue(new Uint8Array(KiB));
    },
  }, { highWaterMark: 0 });
  const branches = teeBounded(failing, 3);
  const results = await Promise.allSettled(branches.map((s) => readAll(s)));
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.match(
      String((r as PromiseRejectedResult).reason),
      /btrfs send died/,
    );
  }
});

Deno.test("a tee of one branch and a bad count", async () => {
  const { stream } = counted(3, 10);
  const [only] = teeBounded(stream, 1);
  assert.deepEqual(await readAll(only), expected(3, 10));
  assert.throws(() => teeBounded(counted(1, 1).stream, 0), RangeError);
});
