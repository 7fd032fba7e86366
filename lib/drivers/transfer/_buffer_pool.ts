/**
 * Reused part buffers in shared memory.
 *
 * @module
 */

/**
 * Part buffers: shared memory, so two hashing threads can read a part at
 * once while it stays usable here; reused by size, so memory does not churn.
 */
export class BufferPool {
  #free: ArrayBufferLike[] = [];

  get(size: number): Uint8Array<ArrayBufferLike> {
    const i = this.#free.findIndex((b) => b.byteLength === size);
    if (i >= 0) return new Uint8Array(this.#free.splice(i, 1)[0]);
    return new Uint8Array(new SharedArrayBuffer(size));
  }

  put(buf: ArrayBufferLike): void {
    // Keep a few; older sizes are dropped as parts grow.
    this.#free = this.#free.filter((b) => b.byteLength === buf.byteLength);
    if (this.#free.length < 4) this.#free.push(buf);
  }
}
