/**
 * Hashing of upload parts: the SHA-256 of the whole stream plus each part's
 * checksum, in a worker thread when one can start (hashing on the main thread
 * would stall its network I/O), else inline.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A part after hashing; `data` may be a new view (the buffer went to the worker and back). */
export interface HashedPart {
  data: Uint8Array<ArrayBuffer>;
  digest?: Uint8Array;
}

/** Hashes parts in the order they are given. */
export interface PartHasher {
  /** Adds a part to the stream hash and computes its own checksum. */
  part(
    data: Uint8Array<ArrayBuffer>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart>;
  /** Hex SHA-256 of all parts so far; resets the stream hash. */
  finish(): Promise<string>;
  close(): void;
}

/** A hasher on a worker thread, or inline when workers are unavailable. */
export function createPartHasher(
  options: { inline?: boolean } = {},
): PartHasher {
  if (!options.inline) {
    try {
      return new _WorkerHasher();
    } catch {
      // e.g. a compiled binary without the worker module: hash inline.
    }
  }
  return new _InlineHasher();
}

class _InlineHasher implements PartHasher {
  #stream = createHash("sha256");
  part(
    data: Uint8Array<ArrayBuffer>,
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

class _WorkerHasher implements PartHasher {
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
      this.#fail(new Error(`hash worker failed: ${ev.message}`));
    };
  }

  #fail(e: unknown): void {
    this.#failed = e;
    for (const w of this.#waiting.values()) w.reject(e);
    this.#waiting.clear();
  }

  #call(msg: object, transfer: Transferable[]): Promise<_Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async part(
    data: Uint8Array<ArrayBuffer>,
    alg: "md5" | "sha256" | null,
  ): Promise<HashedPart> {
    // Capture the view's shape: transferring the buffer detaches it.
    const { byteOffset, length, buffer } = data;
    const r = await this.#call(
      { op: "part", buf: buffer, offset: byteOffset, length, alg },
      [buffer],
    );
    return {
      data: new Uint8Array(r.buf!, byteOffset, length),
      digest: r.digest,
    };
  }

  async finish(): Promise<string> {
    return (await this.#call({ op: "finish" }, [])).hex!;
  }

  close(): void {
    this.#worker.terminate();
    this.#fail(new Error("hasher closed"));
  }
}
