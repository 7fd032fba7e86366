/**
 * Streaming upload of a stream of unknown length (a `btrfs send` through its
 * pipe stages) with bounded memory.
 *
 * - The stream is buffered only until it proves larger than one part: a stream
 *   that ends first goes up as one PutObject (a zero-length stream makes a
 *   valid empty object); otherwise a multipart upload sends parts
 *   concurrently while the next part is read.
 * - Part sizes: the first 1,000 parts have the configured part size (default
 *   16 MiB), and the size doubles every 1,000 parts after that, up to the
 *   provider's 5 GiB maximum (or `maxPartSize`). 9,000 parts thus reach
 *   16 MiB × 1000 × (1 + 2 + ... + 256) ≈ 8 TiB, more than the 5 TiB most
 *   providers allow, while every stream under 15.6 GiB uses 16 MiB parts.
 *   Providers that need equal parts (R2) keep one size; their objects end at
 *   10,000 parts.
 * - Memory: parts being read, hashed or sent hold at most
 *   max(partSize × (concurrency + 1), 2 × current part size) bytes: as parts
 *   grow, fewer are sent at once. With the defaults that is 144 MiB for any
 *   stream under 109 GiB (part sizes up to 64 MiB), then twice the current
 *   part size (1 GiB past 500 GiB, 8 GiB for the last TiB of a 5 TiB object).
 *   `maxPartSize` caps it at 2 × maxPartSize: objects then end sooner and the
 *   stream continues in the next `.seqn` object.
 * - A stream longer than the largest object continues in further objects,
 *   `.seqn1`, `.seqn2`, ... (derived from the `.seqn0` key given).
 * - Integrity: every part carries a checksum the store verifies (computed in
 *   a worker: Content-MD5, x-amz-checksum-sha256 on AWS, or on other S3
 *   endpoints the part's SHA-256 as the signed x-amz-content-sha256, which
 *   costs less CPU than MD5); completed objects are checked (size, ETag or
 *   composite checksum); the SHA-256 of the whole stream goes into a manifest
 *   written after every object completed.
 * - If the producer fails (its stream errors) or the store keeps failing,
 *   everything is undone: open multipart uploads are aborted and objects
 *   already completed by this upload are deleted, so no object is left that
 *   looks like a complete backup, and no manifest is written.
 *
 * @module
 */

import type {
  MultipartUpload,
  PartReceipt,
  Remote,
  RemoteLimits,
} from "../remote/remote.ts";
import { createPartHasher, type PartHasher } from "./_hasher.ts";
import {
  type Manifest,
  manifestKey,
  seqnKey,
  writeManifest,
} from "./manifest.ts";
import type { ProgressCallback } from "./progress.ts";
import { RemoteError } from "../remote/retry.ts";

/** Options of {@linkcode uploadStream}; unset fields come from the remote's limits. */
export interface UploadOptions {
  /** Size of the first 1,000 parts in bytes (later parts grow, see the module doc). */
  partSize?: number;
  /** Parts sent at once. */
  concurrency?: number;
  /** Largest object; a longer stream continues in `.seqn1`, ... */
  maxObjectSize?: number;
  /** Cap of the growing part size (bounds memory at 2 × this; objects end sooner). */
  maxPartSize?: number;
  /** Keep every part the same size (implied by providers that need it). */
  equalParts?: boolean;
  /** Storage class of the objects. */
  storageClass?: string;
  /** Called after each part and once at the end. */
  onProgress?: ProgressCallback;
  /** Cancels the upload (everything is undone). */
  signal?: AbortSignal;
  /** Hash on the main thread instead of a worker (tests, or where workers are unavailable). */
  inlineHashing?: boolean;
}

/** What {@linkcode uploadStream} stored. */
export interface UploadResult extends Manifest {
  /** Key of the manifest written. */
  manifestKey: string;
  /** Parts sent over all objects (1 for an object sent with one PutObject). */
  parts: number;
}

/** Raised when the input stream fails; the upload was undone. */
export class ProducerError extends Error {
  /** `options.cause` holds the input stream's error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProducerError";
  }
}

/** Parts per step of the part-size schedule. */
export const PARTS_PER_STEP = 1000;

/** Size of part `partNumber` (1-based) under the growth rule of the module doc. */
export function partSizeFor(
  partNumber: number,
  firstPartSize: number,
  limits: Pick<RemoteLimits, "maxPartSize" | "equalParts">,
): number {
  if (limits.equalParts) return firstPartSize;
  const step = Math.floor((partNumber - 1) / PARTS_PER_STEP);
  return Math.min(limits.maxPartSize, firstPartSize * 2 ** Math.min(step, 40));
}

/** Largest object the schedule reaches within the provider's part count and object limits. */
export function objectCapacity(
  firstPartSize: number,
  limits: Pick<
    RemoteLimits,
    "maxPartSize" | "equalParts" | "maxParts" | "maxObjectSize"
  >,
): number {
  if (limits.maxParts >= Number.MAX_SAFE_INTEGER / firstPartSize) {
    return limits.maxObjectSize;
  }
  let total = 0;
  for (let n = 1; n <= limits.maxParts; n++) {
    total += partSizeFor(n, firstPartSize, limits);
    if (total >= limits.maxObjectSize) return limits.maxObjectSize;
  }
  return total;
}

/** Most bytes of parts held at once when parts are `partSize` long (see the module doc). */
export function memoryBound(
  firstPartSize: number,
  concurrency: number,
  partSize = firstPartSize,
): number {
  return Math.max(firstPartSize * (concurrency + 1), 2 * partSize);
}

/**
 * Uploads a stream under `key` (a `.seqn0` key when the stream may outgrow one
 * object), then writes its manifest. Resolves when everything is durable;
 * rejects after undoing everything.
 */
export async function uploadStream(
  remote: Remote,
  key: string,
  stream: ReadableStream<Uint8Array>,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const limits: RemoteLimits = {
    ...remote.limits,
    equalParts: options.equalParts ?? remote.limits.equalParts,
    maxPartSize: Math.min(
      remote.limits.maxPartSize,
      options.maxPartSize ?? Infinity,
    ),
  };
  const first = options.partSize ?? limits.partSize;
  const concurrency = options.concurrency ?? limits.concurrency;
  _checkOptions(remote, first, concurrency, limits, options.maxObjectSize);
  const objMax = objectCapacity(first, {
    ...limits,
    maxObjectSize: options.maxObjectSize ?? limits.maxObjectSize,
  });
  const u = new _Upload(
    remote,
    key,
    stream,
    options,
    limits,
    first,
    concurrency,
    objMax,
  );
  return await u.run();
}

function _checkOptions(
  remote: Remote,
  first: number,
  concurrency: number,
  limits: RemoteLimits,
  maxObjectSize: number | undefined,
): void {
  const where = `remote ${remote.id}`;
  if (!Number.isSafeInteger(first) || first < limits.minPartSize) {
    throw new RangeError(
      `${where}: part size ${first} is below the minimum of ${limits.minPartSize} bytes; raise the part size`,
    );
  }
  if (first > limits.maxPartSize) {
    throw new RangeError(
      `${where}: part size ${first} is above the maximum of ${limits.maxPartSize} bytes; lower the part size`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new RangeError(
      `${where}: concurrency ${concurrency} must be a whole number from 1 to 64`,
    );
  }
  if (
    maxObjectSize !== undefined &&
    (!Number.isSafeInteger(maxObjectSize) || maxObjectSize < 1 ||
      maxObjectSize > limits.maxObjectSize)
  ) {
    throw new RangeError(
      `${where}: maximum object size ${maxObjectSize} must be a whole number from 1 to ${limits.maxObjectSize}`,
    );
  }
}

class _Upload {
  readonly #t0 = performance.now();
  readonly #reader: _StreamReader;
  readonly #hasher: PartHasher;
  readonly #pool = new _BufferPool();
  readonly #budget: _Budget;
  readonly #sending = new _Slots();
  /** Objects completed by this upload (deleted again if it fails). */
  readonly #done: { key: string; size: number }[] = [];
  readonly #open = new Set<MultipartUpload>();
  readonly #inflight = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  #sent = 0;
  #read = 0;
  #parts = 0;

  constructor(
    readonly remote: Remote,
    readonly key: string,
    stream: ReadableStream<Uint8Array>,
    readonly options: UploadOptions,
    readonly limits: RemoteLimits,
    readonly first: number,
    readonly concurrency: number,
    readonly objMax: number,
  ) {
    this.#reader = new _StreamReader(stream);
    this.#hasher = createPartHasher({ inline: options.inlineHashing });
    this.#budget = new _Budget(first * (concurrency + 1));
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#budget.fail(error);
    this.#reader.cancel(error);
  }

  #check(): void {
    if (this.#failure) throw this.#failure.error;
  }

  async run(): Promise<UploadResult> {
    const signal = this.options.signal;
    const onAbort = () => this.#fail(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      for (let j = 0;; j++) {
        const objKey = seqnKey(this.key, j);
        const more = await this.#object(objKey);
        if (!more) break;
      }
      this.#check();
      const sha256 = await this.#hasher.finish();
      const manifest: Manifest = {
        key: this.key,
        objects: [...this.#done],
        size: this.#read,
        sha256,
      };
      await writeManifest(this.remote, manifest);
      this.#progress(true);
      return {
        ...manifest,
        manifestKey: manifestKey(this.key),
        parts: this.#parts,
      };
    } catch (error) {
      this.#fail(error);
      throw await this.#undo(error);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#hasher.close();
    }
  }

  /** Uploads one object; resolves true when the stream continues past it. */
  async #object(objKey: string): Promise<boolean> {
    const size1 = Math.min(
      partSizeFor(1, this.first, this.limits),
      this.objMax,
    );
    const firstPart = await this.#readPart(size1);
    const eof = await this.#reader.atEnd();
    this.#check();
    const alg = this.remote.partChecksum;
    if (eof || firstPart.length === this.objMax) {
      // The whole object is one part: one PutObject.
      const { data, digest } = await this.#hasher.part(firstPart, alg);
      // Listed before the request: a failure after the store kept the
      // object must still delete it.
      this.#done.push({ key: objKey, size: data.length });
      const done = await this.remote.put(objKey, data, {
        storageClass: this.options.storageClass,
        checksums: alg ? { [alg]: digest } : undefined,
      }).catch((e) => this.#refused(e));
      this.#parts++;
      this.#release(data);
      this.#sent += data.length;
      await this.#verify(objKey, data.length, done.etag);
      this.#progress(false);
      return !eof;
    }
    const mp = await this.remote.createMultipartUpload(objKey, {
      storageClass: this.options.storageClass,
    });
    this.#open.add(mp);
    const receipts: PartReceipt[] = [];
    let offset = 0;
    let partNumber = 1;
    let part = firstPart;
    for (;;) {
      const length = part.length; // the hasher detaches the part's buffer
      this.#launch(mp, partNumber, part, offset, receipts);
      offset += length;
      partNumber++;
      if (await this.#reader.atEnd() || offset >= this.objMax) break;
      this.#check();
      const size = Math.min(
        partSizeFor(partNumber, this.first, this.limits),
        this.objMax - offset,
      );
      part = await this.#readPart(size);
      if (part.length === 0) {
        this.#release(part);
        break;
      }
    }
    await this.#drain();
    this.#done.push({ key: objKey, size: offset });
    const completed = await mp.complete(receipts).catch((e) =>
      this.#refused(e)
    );
    this.#open.delete(mp);
    await this.#verify(objKey, offset, completed.etag);
    return !(await this.#reader.atEnd());
  }

  /**
   * Rethrows a failed put or complete; when the store refused it (a 4xx
   * answer) nothing was stored, so there is nothing to delete.
   */
  #refused(e: unknown): never {
    if (
      e instanceof RemoteError && e.status !== undefined && e.status >= 400 &&
      e.status < 500
    ) {
      this.#done.pop();
    }
    throw e;
  }

  /** Reserves memory, then reads up to `size` bytes (fewer only at the end of the stream). */
  async #readPart(size: number): Promise<Uint8Array<ArrayBufferLike>> {
    await this.#budget.acquire(size);
    this.#check();
    const buf = this.#pool.get(size);
    let n: number;
    try {
      n = await this.#reader.fill(buf);
    } catch (e) {
      this.#budget.release(size);
      throw e;
    }
    this.#read += n;
    return n === size ? buf : buf.subarray(0, n);
  }

  #release(data: Uint8Array<ArrayBufferLike>): void {
    const size = data.buffer.byteLength;
    this.#pool.put(data.buffer);
    this.#budget.release(size);
  }

  #launch(
    mp: MultipartUpload,
    partNumber: number,
    part: Uint8Array<ArrayBufferLike>,
    offset: number,
    receipts: PartReceipt[],
  ): void {
    const alg = this.remote.partChecksum;
    // Parts sent at once: `concurrency`, fewer once parts outgrow the budget.
    const tier = partSizeFor(partNumber, this.first, this.limits);
    const width = Math.max(
      1,
      Math.floor(memoryBound(this.first, this.concurrency, tier) / tier) - 1,
    );
    // Hash now (in order: the worker sees parts as they were read).
    const hashed = this.#hasher.part(part, alg);
    const task = (async () => {
      const { data, digest } = await hashed;
      let slot = false;
      try {
        await this.#sending.acquire(width);
        slot = true;
        this.#check();
        const r = await mp.uploadPart(
          partNumber,
          data,
          offset,
          alg ? { [alg]: digest } : undefined,
        );
        receipts.push(r);
        this.#parts++;
        this.#sent += data.length;
        this.#progress(false);
      } finally {
        if (slot) this.#sending.release();
        this.#release(data);
      }
    })().catch((e) => this.#fail(e));
    this.#inflight.add(task);
    task.finally(() => this.#inflight.delete(task));
  }

  async #drain(): Promise<void> {
    while (this.#inflight.size) await Promise.all([...this.#inflight]);
    this.#check();
  }

  async #verify(
    objKey: string,
    size: number,
    etag: string | undefined,
  ): Promise<void> {
    const h = await this.remote.head(objKey);
    if (!h) {
      throw new Error(
        `upload of ${objKey} to remote ${this.remote.id}: the object is missing right after it completed`,
      );
    }
    if (h.size !== size) {
      throw new Error(
        `upload of ${objKey} to remote ${this.remote.id}: the store holds ${h.size} bytes, ${size} were sent`,
      );
    }
    if (etag && h.etag && etag !== h.etag) {
      throw new Error(
        `upload of ${objKey} to remote ${this.remote.id}: the stored ETag ${h.etag} differs from the completed upload's ${etag}`,
      );
    }
  }

  #progress(done: boolean): void {
    this.options.onProgress?.({
      bytes: this.#sent,
      bytesRead: this.#read,
      elapsedMs: performance.now() - this.#t0,
      ...(done ? { done } : {}),
    });
  }

  /** Undoes everything after a failure; returns the error to throw. */
  async #undo(error: unknown): Promise<unknown> {
    await Promise.allSettled([...this.#inflight]);
    const problems: string[] = [];
    for (const mp of this.#open) {
      try {
        await mp.abort();
      } catch (e) {
        problems.push(
          `aborting the multipart upload of ${mp.key} failed (${
            (e as Error)?.message ?? e
          }); abort it by hand or with a lifecycle rule`,
        );
      }
    }
    if (this.#done.length) {
      try {
        await this.remote.delete(this.#done.map((o) => o.key));
      } catch (e) {
        problems.push(
          `deleting the partial objects ${
            this.#done.map((o) => o.key).join(", ")
          } failed (${(e as Error)?.message ?? e}); delete them by hand`,
        );
      }
    }
    let err = error;
    if (this.#reader.producerError && error === this.#reader.producerError) {
      err = new ProducerError(
        `upload of ${this.key} to remote ${this.remote.id} stopped because its input failed: ${
          (error as Error)?.message ?? error
        }; nothing was kept`,
        { cause: error },
      );
    }
    if (problems.length) {
      return new Error(
        `${(err as Error)?.message ?? err}; also: ${problems.join("; ")}`,
        { cause: err },
      );
    }
    return err;
  }
}

/** Reads a byte stream into caller-given buffers, with one chunk of look-ahead. */
class _StreamReader {
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

/**
 * Part buffers: shared memory, so two hashing threads can read a part at
 * once while it stays usable here; reused by size, so memory does not churn.
 */
class _BufferPool {
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

/** Counts parts being sent; `acquire(width)` waits until fewer than `width` are. */
class _Slots {
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
class _Budget {
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
