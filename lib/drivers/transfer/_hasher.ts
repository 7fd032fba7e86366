/**
 * Hashing of transfer parts: the SHA-256 of the whole stream plus each
 * part's checksum, in place. On the main thread by default: with SHA-NI a
 * part hashes in milliseconds, while a worker thread costs about 18 MiB (its
 * own V8 isolate) and measured no faster on two cores. A worker remains on
 * request, for machines where hashing would stall the main thread's I/O.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A part after hashing; `data` may be a new view (the buffer went to the worker and back). */
export interface HashedPart {
  /** The part's bytes (a new view when the buffer went to a worker and back). */
  data: Uint8Array<ArrayBufferLike>;
  /** The part's own checksum, when one was asked for. */
  digest?: Uint8Array;
}

/** Hashes parts in the order they are given. */
export interface PartHasher {
  /** Adds a part to the stream hash and computes its own checksum. */
  part(
    data: Uint8Array<ArrayBufferLike>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart>;
  /** Hex SHA-256 of all parts so far; resets the stream hash. */
  finish(): Promise<string>;
  /** Stops the worker. */
  close(): void;
}

/**
 * An inline hasher, or with `worker` one on a worker thread (inline when no
 * worker starts, e.g. a compiled binary built without the worker module).
 * The worker answers a ping before any part is handed over, so no part is
 * lost to a worker that failed to load.
 */
export function createPartHasher(
  options: { worker?: boolean } = {},
): PartHasher {
  if (!options.worker) return new _InlineHasher();
  return new _StartingHasher();
}

class _StartingHasher implements PartHasher {
  #ready: Promise<PartHasher>;
  #closed = false;

  constructor() {
    this.#ready = _WorkerHasher.start().catch(() => new _InlineHasher());
  }

  async part(
    data: Uint8Array<ArrayBufferLike>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart> {
    return await (await this.#ready).part(data, alg);
  }

  async finish(): Promise<string> {
    return await (await this.#ready).finish();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready.then((h) => h.close(), () => {});
  }
}

class _InlineHasher implements PartHasher {
  #stream = createHash("sha256");
  part(
    data: Uint8Array<ArrayBufferLike>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart> {
    this.#stream.update(data);
    const digest = alg
      ? new Uint8Array(createHash(alg).update(data).digest())
      : undefined;
    return Promise.resolve({ data, digest });
  }
  finish(): Promise<string> {
    const hex = this.#stream.digest("hex");
    this.#stream = createHash("sha256");
    return Promise.resolve(hex);
  }
  close(): void {}
}

interface _Reply {
  id: number;
  buf?: ArrayBuffer;
  digest?: Uint8Array;
  hex?: string;
}

/** One worker thread and its pending calls. */
class _Thread {
  #worker: Worker;
  #next = 0;
  #waiting = new Map<
    number,
    { resolve: (r: _Reply) => void; reject: (e: unknown) => void }
  >();
  #failed?: unknown;

  constructor() {
    this.#worker = new Worker(
      new URL("./_hash_worker.ts", import.meta.url),
      { type: "module" },
    );
    this.#worker.onmessage = (ev: MessageEvent<_Reply>) => {
      const w = this.#waiting.get(ev.data.id);
      this.#waiting.delete(ev.data.id);
      w?.resolve(ev.data);
    };
    this.#worker.onerror = (ev) => {
      ev.preventDefault();
      this.fail(new Error(`hash worker failed: ${ev.message}`));
    };
  }

  fail(e: unknown): void {
    this.#failed ??= e;
    for (const w of this.#waiting.values()) w.reject(e);
    this.#waiting.clear();
  }

  call(msg: object, transfer: Transferable[]): Promise<_Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  close(): void {
    this.#worker.terminate();
    this.fail(new Error("hasher closed"));
  }
}

/**
 * One thread keeps the stream's SHA-256 and computes parts' own checksums in
 * the same pass. Buffers are transferred to it and come back (shared memory
 * is read in place); a second thread would cost its memory (a V8 isolate)
 * for little: the main thread's I/O already runs beside it.
 */
class _WorkerHasher implements PartHasher {
  #thread: _Thread;

  /** Starts the thread and waits for its answer to a ping. */
  static async start(): Promise<_WorkerHasher> {
    const h = new _WorkerHasher();
    const timeout = setTimeout(
      () => h.#thread.fail(new Error("hash worker did not start")),
      10_000,
    );
    try {
      await h.#thread.call({ op: "ping" }, []);
      return h;
    } catch (e) {
      h.close();
      throw e;
    } finally {
      clearTimeout(timeout);
    }
  }

  private constructor() {
    this.#thread = new _Thread();
  }

  async part(
    data: Uint8Array<ArrayBufferLike>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart> {
    // Capture the view's shape: transferring the buffer detaches it.
    const { byteOffset, length, buffer } = data;
    const owned = buffer instanceof ArrayBuffer;
    const r = await this.#thread.call(
      {
        op: "part",
        buf: buffer,
        offset: byteOffset,
        length,
        stream: true,
        alg,
      },
      owned ? [buffer] : [],
    );
    return {
      data: owned ? new Uint8Array(r.buf!, byteOffset, length) : data,
      digest: r.digest,
    };
  }

  async finish(): Promise<string> {
    return (await this.#thread.call({ op: "finish" }, [])).hex!;
  }

  close(): void {
    this.#thread.close();
  }
}
