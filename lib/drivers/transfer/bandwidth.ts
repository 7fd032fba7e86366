/**
 * A token bucket for bandwidth limits (`bandwidth: "20MiB/s"`, `--bwlimit`).
 * Bytes are handed out at the rate; after a pause at most `burst` bytes go
 * at once, and the burst is small (a twentieth of a second's worth by
 * default, never more than one second's), so a shared uplink never sees line speed
 * for long: a limiter that lets a large burst through and then sleeps is
 * what users of other tools complain about. Callers are served in order, so
 * concurrent parts share the rate fairly and none starves.
 *
 * @module
 */

import type { Pacer } from "../remote/pacer.ts";
import { sleep } from "../remote/retry.ts";

/** Options of {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Most bytes at once after a pause (default: a twentieth of a second's worth, at least 64 KiB, at most one second's). */
  burst?: number;
  /** Milliseconds on a monotonic clock (tests). */
  now?: () => number;
  /** Waits `ms` (tests); rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * A rate limiter of bytes. `take(n)` resolves when `n` bytes may pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenBucket } from "./bandwidth.ts";
 * let t = 0;
 * const b = new TokenBucket(1000, {
 *   burst: 100,
 *   now: () => t,
 *   sleep: (ms) => { t += ms; return Promise.resolve(); },
 * });
 * await b.take(100); // the burst: at once
 * assert.equal(t, 0);
 * await b.take(500); // then at the rate: half a second
 * assert.equal(t, 500);
 * ```
 */
export class TokenBucket implements Pacer {
  /** Bytes per second. */
  readonly bytesPerSecond: number;
  /** Most bytes handed out at once. */
  readonly burst: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();

  /**
   * @param bytesPerSecond The rate, above 0.
   * @param options Burst and, for tests, the clock.
   * @throws {RangeError} For a rate or burst that is not positive, or a burst above one second's worth.
   */
  constructor(bytesPerSecond: number, options: TokenBucketOptions = {}) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(
        `bandwidth ${bytesPerSecond} bytes/s must be a positive number`,
      );
    }
    const burst = options.burst ??
      Math.min(bytesPerSecond, Math.max(64 * 1024, bytesPerSecond / 20));
    if (!(burst > 0) || burst > bytesPerSecond) {
      throw new RangeError(
        `burst ${burst} bytes must be positive and at most one second's worth (${bytesPerSecond})`,
      );
    }
    this.bytesPerSecond = bytesPerSecond;
    this.burst = burst;
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? sleep;
    this.#tokens = burst;
    this.#last = this.#now();
  }

  /** Resolves when `bytes` may pass; callers are served in the order they asked. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#take(bytes, signal));
    // A caller that gave up (aborted) does not hold up the next one.
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #take(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    let left = bytes;
    while (left > 0) {
      signal?.throwIfAborted();
      const now = this.#now();
      this.#tokens = Math.min(
        this.burst,
        this.#tokens + (now - this.#last) * this.bytesPerSecond / 1000,
      );
      this.#last = now;
      // Never more than a burst at once, however much is asked for.
      const piece = Math.min(left, this.burst);
      if (this.#tokens >= piece) {
        this.#tokens -= piece;
        left -= piece;
        continue;
      }
      await this.#sleep(
        (piece - this.#tokens) * 1000 / this.bytesPerSecond,
        signal,
      );
    }
  }
}
