/**
 * The count of parts an upload sends at once (its bytes are the buffer
 * pool's to limit).
 *
 * @module
 */

/** Counts parts being sent; `acquire(width)` waits until fewer than `width` are. */
export class Slots {
  #busy = 0;
  #waiters: { width: number; resolve: () => void }[] = [];

  acquire(width: number): Promise<void> {
    if (this.#busy < width && this.#waiters.length === 0) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ width, resolve }));
  }

  release(): void {
    this.#busy--;
    while (this.#waiters.length && this.#busy < this.#waiters[0].width) {
      this.#busy++;
      this.#waiters.shift()!.resolve();
    }
  }
}
