/**
 * The part buffers of one transfer: a byte budget they never exceed, reused
 * by size so that memory does not churn.
 *
 * @module
 */

/**
 * Part buffers within a byte budget. Every byte counted is a buffer this
 * pool handed out or keeps for reuse; `get` waits while a new buffer would
 * pass the budget. Plain `ArrayBuffer`s, not shared memory: V8 counts them,
 * so a buffer dropped as parts grow is collected soon, and they can be
 * transferred to a hashing worker and back without a copy.
 */
export class BufferPool {
  /** Free buffers, kept for reuse (counted in `#held`). */
  #free: ArrayBuffer[] = [];
  /** Bytes of the buffers handed out and not yet given back. */
  #inUse = 0;
  /** Bytes handed out plus bytes kept free. */
  #held = 0;
  #peak = 0;
  #waiters: {
    size: number;
    resolve: (b: Uint8Array<ArrayBuffer>) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #failed?: { error: unknown };

  /**
   * @param limit Most bytes of buffers at once; one buffer larger than this
   *   is still handed out when no other is out (a transfer must progress).
   */
  constructor(readonly limit: number) {}

  /** Most bytes held at once so far (handed out plus kept free). */
  get peakBytes(): number {
    return this.#peak;
  }

  /** Bytes held now (handed out plus kept free). */
  get heldBytes(): number {
    return this.#held;
  }

  /** A buffer of `size` bytes (old contents), once the budget allows it. */
  get(size: number): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#failed) return Promise.reject(this.#failed.error);
    if (this.#waiters.length === 0) {
      const b = this.#take(size);
      if (b) return Promise.resolve(b);
    }
    return new Promise((resolve, reject) =>
      this.#waiters.push({ size, resolve, reject })
    );
  }

  /** Gives a buffer back (any view of it); a waiting `get` may take it. */
  put(buffer: ArrayBuffer): void {
    this.#inUse -= buffer.byteLength;
    if (this.#failed) {
      this.#held -= buffer.byteLength;
    } else {
      this.#free.push(buffer);
    }
    this.#wake();
  }

  #wake(): void {
    while (this.#waiters.length) {
      const b = this.#take(this.#waiters[0].size);
      if (!b) break;
      this.#waiters.shift()!.resolve(b);
    }
  }

  /** A buffer of `size` bytes handed out that will not come back (given away, or lost with a failed read). */
  forget(size: number): void {
    this.#inUse -= size;
    this.#held -= size;
    this.#wake();
  }

  /** Rejects every waiting and later `get`, and drops the free buffers. */
  fail(error: unknown): void {
    this.#failed ??= { error };
    for (const w of this.#waiters) w.reject(error);
    this.#waiters = [];
    this.#drop(Infinity);
  }

  /** A buffer within the budget: a free one of this size, else a new one. */
  #take(size: number): Uint8Array<ArrayBuffer> | null {
    if (this.#inUse !== 0 && this.#inUse + size > this.limit) return null;
    const i = this.#free.findIndex((b) => b.byteLength === size);
    let buffer: ArrayBuffer;
    if (i >= 0) {
      buffer = this.#free.splice(i, 1)[0];
    } else {
      // Free buffers of other sizes make room (parts grew, or a short last part).
      this.#drop(this.#held + size - Math.max(this.limit, size));
      buffer = new ArrayBuffer(size);
      this.#held += size;
    }
    this.#inUse += size;
    this.#peak = Math.max(this.#peak, this.#held);
    return new Uint8Array(buffer);
  }

  /** Drops free buffers until at least `bytes` are released. */
  #drop(bytes: number): void {
    while (bytes > 0 && this.#free.length) {
      const b = this.#free.shift()!;
      this.#held -= b.byteLength;
      bytes -= b.byteLength;
    }
  }
}
