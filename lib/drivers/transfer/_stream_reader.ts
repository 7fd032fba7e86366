/**
 * Reading a byte stream of unknown length into part buffers, with a little
 * look-ahead (to tell the end of the stream before a part is sent).
 *
 * @module
 */

/** Look-ahead of a byte stream: read after a part, copied into the next one. */
const _PEEK = 64 * 1024;

/** Reads a stream into caller-given buffers, with a little look-ahead. */
export class StreamReader {
  readonly #reader:
    | ReadableStreamDefaultReader<Uint8Array>
    | ReadableStreamBYOBReader;
  readonly #byob: boolean;
  /** BYOB only: the buffer look-ahead reads land in. */
  #peek: ArrayBuffer | null = null;
  #left: Uint8Array | null = null;
  #ended = false;
  #cancelled = false;
  /** The error the input stream raised, if it did. */
  producerError: unknown;

  constructor(stream: ReadableStream<Uint8Array>) {
    // Byte streams (`btrfs send`, a child's stdout, Deno.stdin) are read
    // straight into the part buffers: no chunk is allocated or copied.
    let byob: ReadableStreamBYOBReader | null = null;
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      // not a byte stream
    }
    this.#byob = byob !== null;
    this.#reader = byob ?? stream.getReader();
  }

  /**
   * One read: into `into` for a byte stream (its buffer moves to the
   * result's `value`, also at the end), else the next chunk.
   */
  async #read(
    into: Uint8Array<ArrayBuffer>,
  ): Promise<{ done: boolean; value?: Uint8Array }> {
    if (this.#ended) return { done: true };
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = this.#byob
        ? await (this.#reader as ReadableStreamBYOBReader).read(into)
        : await (this.#reader as ReadableStreamDefaultReader<Uint8Array>)
          .read();
    } catch (e) {
      if (!this.#cancelled) this.producerError = e;
      throw e;
    }
    if (r.done) this.#ended = true;
    return r;
  }

  /**
   * Fills `buf`; returns the bytes written as a view of the same memory (a
   * new view: reading into a buffer moves it), shorter than `buf` only at
   * the end of the stream.
   */
  async fill(buf: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const { byteOffset, length } = buf;
    let n = 0;
    while (n < length) {
      if (this.#left) {
        const c = this.#left;
        const take = Math.min(c.length, length - n);
        buf.set(take === c.length ? c : c.subarray(0, take), n);
        n += take;
        this.#left = take < c.length ? c.subarray(take) : null;
        continue;
      }
      if (this.#ended) break;
      const r = await this.#read(
        new Uint8Array(buf.buffer, byteOffset + n, length - n),
      );
      if (this.#byob) {
        // The read moved the buffer, also when it found the end.
        if (r.value) {
          buf = new Uint8Array(
            r.value.buffer as ArrayBuffer,
            byteOffset,
            length,
          );
          n += r.value.length;
        }
      } else if (r.value) {
        this.#left = r.value;
      }
    }
    return buf.subarray(0, n);
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.#left) return false;
    for (;;) {
      let into = new Uint8Array(0);
      if (this.#byob) {
        this.#peek ??= new ArrayBuffer(_PEEK);
        into = new Uint8Array(this.#peek);
      }
      const { done, value: c } = await this.#read(into);
      if (this.#byob && c) this.#peek = c.buffer as ArrayBuffer;
      if (done || !c) return true;
      if (c.length === 0) continue;
      // A view of the look-ahead buffer: copied into the next part before
      // that buffer is read into again.
      this.#left = c;
      return false;
    }
  }

  cancel(reason: unknown): void {
    if (this.#cancelled || this.#ended) return;
    this.#cancelled = true;
    this.#reader.cancel(reason).catch(() => {});
  }
}
