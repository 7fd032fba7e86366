/**
 * The two limits an upload waits on: parts being sent at once, and bytes of
 * parts held in memory.
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

/** A byte budget: at most max(limit, 2 × request) bytes reserved at once. */
export class Budget {
  #used = 0;
  #waiters: { n: number; resolve: () => void; reject: (e: unknown) => void }[] =
    [];
  #failed?: { error: unknown };

  constructor(readonly limit: number) {}

  #fits(n: number): boolean {
    return this.#used === 0 || this.#used + n <= Math.max(this.limit, 2 * n);
  }

  acquire(n: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed.error);
    if (this.#waiters.length === 0 && this.#fits(n)) {
      this.#used += n;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) =>
      this.#waiters.push({ n, resolve, reject })
    );
  }

  release(n: number): void {
    this.#used -= n;
    while (this.#waiters.length && this.#fits(this.#waiters[0].n)) {
      const w = this.#waiters.shift()!;
      this.#used += w.n;
      w.resolve();
    }
  }

  fail(error: unknown): void {
    this.#failed = { error };
    for (const w of this.#waiters) w.reject(error);
    this.#waiters = [];
  }
}
