/**
 * One stream read by several consumers, with bounded memory: the input is
 * read only while every branch still reading has room in its queue, so the
 * slowest branch sets the pace and no branch holds more than its bound (plus
 * one chunk). `ReadableStream.prototype.tee()` instead buffers without limit
 * for the slower branch.
 *
 * A branch that is cancelled (its consumer failed or gave up) is dropped and
 * no longer holds the others back; the input is cancelled only when every
 * branch is. An input error errors every branch.
 *
 * @module
 */

/** Options of {@linkcode teeBounded}. */
export interface TeeOptions {
  /** Bytes one branch may hold unread before the input waits for it (default 4 MiB). */
  maxQueuedBytes?: number;
}

const _DEFAULT_QUEUE = 4 << 20;

interface _Branch {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Wakes the pump waiting for this branch to have room or to be cancelled. */
  wake: (() => void) | null;
  cancelled: boolean;
}

/**
 * Splits `input` into `count` streams that each see every chunk. Chunks are
 * shared between branches, not copied: consumers must not write into them.
 *
 * @param input The stream to split (read by this function only).
 * @param count Number of branches (at least 1).
 * @param options The per-branch queue bound.
 * @returns `count` streams.
 *
 * @example Two readers of one stream
 * ```ts
 * import { teeBounded } from "./tee.ts";
 *
 * const input = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * const [a, b] = teeBounded(input, 2, { maxQueuedBytes: 1 });
 * const [x, y] = await Promise.all([
 *   new Response(a).arrayBuffer(),
 *   new Response(b).arrayBuffer(),
 * ]);
 * if (x.byteLength !== 3 || y.byteLength !== 3) throw new Error("lost bytes");
 * ```
 */
export function teeBounded(
  input: ReadableStream<Uint8Array>,
  count: number,
  options: TeeOptions = {},
): ReadableStream<Uint8Array>[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`teeBounded: count must be 1 or more, got ${count}`);
  }
  const limit = options.maxQueuedBytes ?? _DEFAULT_QUEUE;
  const branches: _Branch[] = [];
  const reader = input.getReader();
  const live = () => branches.filter((b) => !b.cancelled);
  const streams = Array.from({ length: count }, () => {
    let branch!: _Branch;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        branch = { controller, wake: null, cancelled: false };
        branches.push(branch);
      },
      pull() {
        branch.wake?.();
      },
      async cancel(reason) {
        branch.cancelled = true;
        branch.wake?.();
        // The last reader gone: stop the producer now, even mid-read.
        if (live().length === 0) await reader.cancel(reason).catch(() => {});
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: limit }));
    return stream;
  });

  const roomInAll = async (): Promise<void> => {
    for (const b of branches) {
      while (!b.cancelled && (b.controller.desiredSize ?? 0) <= 0) {
        await new Promise<void>((resolve) => b.wake = resolve);
        b.wake = null;
      }
    }
  };

  (async () => {
    for (;;) {
      await roomInAll();
      // Nobody reads any more: the last cancel stopped the producer.
      if (live().length === 0) return;
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        for (const b of live()) b.controller.error(e);
        return;
      }
      if (r.done) {
        for (const b of live()) b.controller.close();
        return;
      }
      // Branches cancelled while the read was pending are skipped.
      for (const b of live()) b.controller.enqueue(r.value);
    }
  })();
  return streams;
}
