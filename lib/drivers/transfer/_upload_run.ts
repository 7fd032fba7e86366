/**
 * One upload in progress: reads, hashes and sends parts, writes the
 * manifest first, completes the objects, and undoes it all on failure.
 *
 * @module
 */

import type {
  CompletedObject,
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
  SHA256_METADATA,
  writeManifest,
} from "./manifest.ts";
import { RemoteError } from "../remote/errors.ts";
import type { JournalPart, JournalRecord } from "./upload_journal.ts";
import { base64, openJournal, scheduleOf, startOrResume } from "./_resume.ts";
import {
  abortOpen,
  deleteStored,
  ProducerError,
  verifyStored,
} from "./_stored.ts";
import { BufferPool } from "./_buffer_pool.ts";
import { Slots } from "./_gates.ts";
import { StreamReader } from "./_stream_reader.ts";
import { partSizeFor, sendWidth, type UploadShape } from "./part_schedule.ts";

import type { UploadOptions, UploadResult } from "./upload_types.ts";

/** Whether the store refused a request (a 4xx answer): then it stored nothing. */
function _refused(e: unknown): boolean {
  return e instanceof RemoteError && e.status !== undefined &&
    e.status >= 400 && e.status < 500;
}

/** An object whose bytes are all sent; `finish` makes it visible under its key. */
interface _Pending {
  key: string;
  size: number;
  /** Sent with one PutObject (which may carry metadata), not a multipart upload. */
  whole: boolean;
  finish(metadata?: Record<string, string>): Promise<CompletedObject>;
}

/** What one upload is given; the sizes are checked already. */
interface _UploadSetup extends UploadShape {
  /** Where the objects go. */
  remote: Remote;
  /** The `.seqn0` key (or the only key). */
  key: string;
  /** The bytes. */
  stream: ReadableStream<Uint8Array>;
  /** The caller's options. */
  options: UploadOptions;
}

/** One upload in progress: reads, hashes and sends parts, and undoes it all on failure. */
export class UploadRun {
  readonly #t0 = performance.now();
  readonly #reader: StreamReader;
  readonly #hasher: PartHasher;
  readonly #pool: BufferPool;
  readonly #sending = new Slots();
  /** Objects completed by this upload (deleted again if it fails). */
  readonly #done: { key: string; size: number }[] = [];
  /** Every object read and sent, waiting for its final step (in stream order). */
  readonly #pending: _Pending[] = [];
  /** Set once the manifest was written (deleted again if the upload fails). */
  #manifest = false;
  readonly #open = new Set<MultipartUpload>();
  readonly #inflight = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  #sent = 0;
  #read = 0;
  #parts = 0;
  /** What an interrupted upload of the same key recorded, when it can be resumed. */
  #prior: JournalRecord | null = null;
  #reused = { parts: 0, bytes: 0 };
  #resumed = false;

  readonly remote: Remote;
  readonly key: string;
  readonly options: UploadOptions;
  readonly limits: RemoteLimits;
  readonly first: number;
  readonly concurrency: number;
  readonly memory: number;
  readonly objMax: number;

  constructor(setup: _UploadSetup) {
    ({
      remote: this.remote,
      key: this.key,
      options: this.options,
      limits: this.limits,
      first: this.first,
      concurrency: this.concurrency,
      memory: this.memory,
      objMax: this.objMax,
    } = setup);
    this.#reader = new StreamReader(setup.stream);
    this.#hasher = createPartHasher({
      worker: this.options.hashWorker && !this.options.inlineHashing,
    });
    this.#pool = new BufferPool(this.memory);
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#pool.fail(error);
    this.#reader.cancel(error);
  }

  #check(): void {
    if (this.#failure) throw this.#failure.error;
  }

  /** The digest each part is hashed with: the store's, or SHA-256 for a journal. */
  get #digestAlg(): "md5" | "sha256" | null {
    return this.remote.partChecksum ??
      (this.options.journal ? "sha256" : null);
  }

  async run(): Promise<UploadResult> {
    const signal = this.options.signal;
    const onAbort = () => this.#fail(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      await this.#openJournal();
      for (let j = 0;; j++) {
        const more = await this.#object(seqnKey(this.key, j));
        if (!more) break;
      }
      this.#check();
      const manifest: Manifest = {
        key: this.key,
        objects: this.#pending.map(({ key, size }) => ({ key, size })),
        size: this.#read,
        sha256: await this.#hasher.finish(),
      };
      // One PutObject: the SHA-256 rides in its metadata, atomic with it.
      const inline = this.remote.objectMetadata &&
        this.#pending.length === 1 && this.#pending[0].whole;
      if (!inline) await this.#writeManifest(manifest);
      await this.#finishObjects(
        inline ? { [SHA256_METADATA]: manifest.sha256 } : undefined,
      );
      await this.options.journal?.clear();
      this.#progress(true);
      return {
        ...manifest,
        manifestKey: inline ? null : manifestKey(this.key),
        parts: this.#parts,
        reused: { ...this.#reused },
        resumed: this.#resumed,
        peakBufferBytes: this.#pool.peakBytes,
      };
    } catch (error) {
      this.#fail(error);
      const err = await this.#undo(error);
      await this.options.journal?.clear().catch(() => {});
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#hasher.close();
    }
  }

  /** Reads the journal: resumes the upload it records, or starts recording this one. */
  async #openJournal(): Promise<void> {
    const { journal, fingerprint = "" } = this.options;
    const digest = this.#digestAlg;
    if (!journal || !digest) return;
    this.#prior = await openJournal(this.remote, journal, {
      remote: this.remote.id,
      key: this.key,
      fingerprint,
      schedule: scheduleOf(this.first, this.limits, this.objMax),
      digest,
    });
  }

  /**
   * Writes the manifest once the stream's last byte was read and sent, and
   * before any object of the backup is complete: a completed object always
   * has its manifest.
   */
  async #writeManifest(manifest: Manifest): Promise<void> {
    // A failed write may still have stored it, unless the store refused it.
    this.#manifest = true;
    await writeManifest(this.remote, manifest).catch((e) => {
      if (_refused(e)) this.#manifest = false;
      throw e;
    });
  }

  /**
   * Makes the objects visible, the last first: until `.seqn0` lands, what is
   * there lacks `.seqn0` and so never passes for a backup.
   */
  async #finishObjects(metadata?: Record<string, string>): Promise<void> {
    for (const p of [...this.#pending].reverse()) {
      this.#check();
      // Listed before the request: a failure after the store kept the
      // object must still delete it.
      this.#done.push({ key: p.key, size: p.size });
      const done = await p.finish(metadata).catch((e) => this.#refused(e));
      // A put whose body checksum the store verified needs no HEAD to tell.
      if (p.whole && this.remote.partChecksum !== null) continue;
      await verifyStored(this.remote, p.key, p.size, done.etag);
    }
  }

  /** Reads and sends one object; resolves true when the stream continues past it. */
  async #object(objKey: string): Promise<boolean> {
    const size1 = Math.min(
      partSizeFor(1, this.first, this.limits),
      this.objMax,
    );
    const firstPart = await this.#readPart(size1);
    const eof = await this.#reader.atEnd();
    this.#check();
    // Only the last object may be one PutObject: it is held until the
    // manifest is written. Earlier ones wait as open multipart uploads.
    if (eof) {
      await this.#holdWhole(objKey, firstPart);
      return false;
    }
    await this.#multipart(objKey, firstPart);
    return !(await this.#reader.atEnd());
  }

  /** Hashes the last object, one part, to be sent with one PutObject after the manifest. */
  async #holdWhole(
    objKey: string,
    part: Uint8Array<ArrayBufferLike>,
  ): Promise<void> {
    const alg = this.remote.partChecksum;
    const { data, digest } = await this.#hasher.part(part, alg);
    this.#pending.push({
      key: objKey,
      size: data.length,
      whole: true,
      finish: async (metadata) => {
        const done = await this.remote.put(objKey, data, {
          storageClass: this.options.storageClass,
          checksums: alg ? { [alg]: digest } : undefined,
          metadata,
        });
        this.#parts++;
        this.#release(data);
        this.#sent += data.length;
        this.#progress(false);
        return done;
      },
    });
  }

  /** Sends an object as a multipart upload that starts with `firstPart`, left open. */
  async #multipart(
    objKey: string,
    firstPart: Uint8Array<ArrayBufferLike>,
  ): Promise<void> {
    const { mp, have, resumed } = await startOrResume(
      this.remote,
      objKey,
      this.#prior,
      this.options.journal,
      this.options.storageClass,
    );
    this.#resumed ||= resumed;
    this.#open.add(mp);
    const receipts: PartReceipt[] = [];
    const size = await this.#sendParts(mp, firstPart, receipts, have);
    await this.#drain();
    this.#pending.push({
      key: objKey,
      size,
      whole: false,
      finish: async () => {
        const done = await mp.complete(receipts);
        this.#open.delete(mp);
        return done;
      },
    });
  }

  /** Reads and launches parts until the object is full or the stream ends; returns its size. */
  async #sendParts(
    mp: MultipartUpload,
    firstPart: Uint8Array<ArrayBufferLike>,
    receipts: PartReceipt[],
    have: Map<number, JournalPart>,
  ): Promise<number> {
    let offset = 0;
    let part = firstPart;
    for (let partNumber = 1;; partNumber++) {
      const length = part.length; // the hasher detaches the part's buffer
      this.#launch(
        mp,
        partNumber,
        part,
        offset,
        receipts,
        have.get(partNumber),
      );
      offset += length;
      if (await this.#reader.atEnd() || offset >= this.objMax) return offset;
      this.#check();
      const size = Math.min(
        partSizeFor(partNumber + 1, this.first, this.limits),
        this.objMax - offset,
      );
      part = await this.#readPart(size);
      if (part.length === 0) {
        this.#release(part);
        return offset;
      }
    }
  }

  /**
   * Rethrows a failed put or complete; when the store refused it (a 4xx
   * answer) nothing was stored, so there is nothing to delete.
   */
  #refused(e: unknown): never {
    if (_refused(e)) this.#done.pop();
    throw e;
  }

  /** Takes a buffer within the budget, then reads up to `size` bytes (fewer only at the end of the stream). */
  async #readPart(size: number): Promise<Uint8Array<ArrayBufferLike>> {
    const buf = await this.#pool.get(size);
    this.#check();
    let part: Uint8Array<ArrayBuffer>;
    try {
      part = await this.#reader.fill(buf);
    } catch (e) {
      // A failed read may have taken the buffer with it.
      this.#pool.forget(size);
      throw e;
    }
    this.#read += part.length;
    return part;
  }

  #release(data: Uint8Array<ArrayBufferLike>): void {
    this.#pool.put(data.buffer as ArrayBuffer);
  }

  #launch(
    mp: MultipartUpload,
    partNumber: number,
    part: Uint8Array<ArrayBufferLike>,
    offset: number,
    receipts: PartReceipt[],
    stored: JournalPart | undefined,
  ): void {
    const alg = this.remote.partChecksum;
    // Parts sent at once: `concurrency`, fewer once parts outgrow the budget.
    const tier = partSizeFor(partNumber, this.first, this.limits);
    const width = sendWidth(this.memory, this.concurrency, tier);
    // Hash now (in order: the stream hash sees parts as they were read).
    const hashed = this.#hasher.part(part, this.#digestAlg);
    const task = (async () => {
      const { data, digest } = await hashed;
      const b64 = digest ? base64(digest) : "";
      let slot = false;
      try {
        if (
          stored && stored.offset === offset &&
          stored.size === data.length && stored.digest === b64
        ) {
          // The interrupted upload sent these very bytes: keep its part.
          receipts.push(stored.receipt);
          this.#reused.parts++;
          this.#reused.bytes += data.length;
          this.#progress(false);
          return;
        }
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
        if (this.options.journal && digest) {
          await this.options.journal.part(mp.key, {
            offset,
            size: data.length,
            digest: b64,
            receipt: r,
          });
        }
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
    const problems = [
      ...await abortOpen(this.#open),
      ...await deleteStored(
        this.remote,
        this.#done.map((o) => o.key),
        this.#manifest ? manifestKey(this.key) : null,
      ),
    ];
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
