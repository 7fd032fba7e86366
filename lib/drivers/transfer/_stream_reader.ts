/**
 * Reading a byte stream of unknown length into part buffers, with one chunk
 * of look-ahead (to tell the end of the stream before a part is sent).
 *
 * @module
 */

/** Reads a byte stream into caller-given buffers, with one chunk of look-ahead. */
export class StreamReader {
  readonly #reader:
    | ReadableStreamDefaultReader<Uint8Array>
    | ReadableStreamBYOBReader;
  /** BYOB only: the one buffer reads land in (no allocation per chunk). */
  #scratch: ArrayBuffer | null = null;
  #left: Uint8Array | null = null;
  #ended = false;
  #cancelled = false;
  /** The error the input stream raised, if it did. */
  producerError: unknown;

  constructor(stream: ReadableStream<Uint8Array>) {
    // Byte streams (a child's stdout, Deno.stdin) are read into one reused
    // buffer; each chunk is copied into its part before the next read.
    let byob: ReadableStreamBYOBReader | null = null;
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      // not a byte stream
    }
    if (byob) this.#scratch = new ArrayBuffer(256 * 1024);
    this.#reader = byob ?? stream.getReader();
  }

  #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!this.#scratch) {
      return (this.#reader as ReadableStreamDefaultReader<Uint8Array>).read();
    }
    return (this.#reader as ReadableStreamBYOBReader).read(
      new Uint8Array(this.#scratch),
    ).then((r) => {
      // The read transferred the scratch buffer; keep its new identity.
      if (r.value) this.#scratch = r.value.buffer as ArrayBuffer;
      return r as ReadableStreamReadResult<Uint8Array>;
    });
  }

  async #pull(): Promise<Uint8Array | null> {
    if (this.#left) {
      const c = this.#left;
      this.#left = null;
      return c;
    }
    while (!this.#ended) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.#read();
      } catch (e) {
        if (!this.#cancelled) this.producerError = e;
        throw e;
      }
      if (r.done) {
        this.#ended = true;
        return null;
      }
      if (r.value.length) return r.value;
    }
    return null;
  }

  /** Fills `buf`; returns the bytes written (fewer than its length only at the end). */
  async fill(buf: Uint8Array): Promise<number> {
    let n = 0;
    while (n < buf.length) {
      const c = await this.#pull();
      if (!c) break;
      const take = Math.min(c.length, buf.length - n);
      buf.set(take === c.length ? c : c.subarray(0, take), n);
      n += take;
      if (take < c.length) this.#left = c.subarray(take);
    }
    return n;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.#left) return false;
    const c = await this.#pull();
    if (!c) return true;
    this.#left = c;
    return false;
  }

  cancel(reason: unknown): void {
    if (this.#cancelled || this.#ended) return;
    this.#cancelled = true;
    this.#reader.cancel(reason).catch(() => {});
  }
}
