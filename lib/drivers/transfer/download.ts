/**
 * Download of a backup as one stream: its object (or its `.seqn` objects in
 * order), read as ranged GETs of 8 MiB, 4 at a time (so a slow consumer holds
 * at most 40 MiB; smaller when the remote's memory budget is), into reused
 * buffers, each resuming with a ranged GET after a mid-body failure,
 * and checking the SHA-256 recorded in the backup's manifest (or, for a
 * backup sent as one PutObject, in its object's metadata, read with the HEAD
 * whose ETag then pins every ranged GET) at the end. A
 * mismatch errors the stream, so a consumer (`btrfs receive`) sees a failure,
 * never a quiet success.
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import { BufferPool } from "./_buffer_pool.ts";
import { createPartHasher } from "./_hasher.ts";
import type { Remote, RemoteObject } from "../remote/remote.ts";
import { type Manifest, readManifest, seqnKey } from "./manifest.ts";
import type { ProgressCallback } from "./progress.ts";
import {
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  withRetry,
} from "../remote/retry.ts";

/** Options of {@linkcode downloadStream}. */
export interface DownloadOptions {
  /** Check the stream against the manifest's SHA-256 and size (default true). */
  verify?: boolean;
  /** Told why a download cannot be checked (no manifest: a btrfs2s3 backup). */
  onUnverified?: (reason: string) => void;
  /** Called as bytes arrive (at most every 200 ms) and once at the end. */
  onProgress?: ProgressCallback;
  /** Resume policy after mid-stream failures (attempts count failures in a row without progress). */
  retry?: RetryOptions;
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Bytes per ranged GET (default 8 MiB, at most half the remote's memory budget). */
  rangeSize?: number;
  /** Ranged GETs in flight (default 4, fewer when the budget is small); memory is rangeSize × (concurrency + 1). */
  concurrency?: number;
  /** Hash in a worker thread (costs about 18 MiB; see _hasher.ts); default on the main thread. */
  hashWorker?: boolean;
}

/** A download in progress. */
export interface Download {
  /** The backup's bytes; errors at the end if they do not match the manifest. */
  stream: ReadableStream<Uint8Array>;
  /** The objects read, in order. */
  objects: { key: string; size: number }[];
  /** Total bytes expected. */
  size: number;
  /** The manifest, when the backup has one and verification is on. */
  manifest: Manifest | null;
  /** Whether the SHA-256 is checked at the end. */
  verified: boolean;
}

/** Raised (through the stream) when the bytes do not match the manifest. */
export class IntegrityError extends Error {
  /** An integrity failure described by `message`. */
  constructor(message: string) {
    super(message);
    this.name = "IntegrityError";
  }
}

/**
 * Opens a backup for reading. `key` is its `.seqn0` key (further objects are
 * found from the manifest, or else by probing `.seqn1`, ...), or the list of
 * its object keys in order (as a listing grouped them).
 */
export async function downloadStream(
  remote: Remote,
  key: string | string[],
  options: DownloadOptions = {},
): Promise<Download> {
  const keys = typeof key === "string" ? [key] : key;
  if (keys.length === 0) throw new Error("download: no key given");
  const head = _heads(remote, options.signal);
  const manifest = await _manifest(remote, keys[0], options, head);
  const objects = manifest
    ? await _objectsOfManifest(remote, manifest, key, head)
    : await _objectsOfKeys(remote, key, head);
  const size = objects.reduce((s, o) => s + o.size, 0);
  const stream = _stream(remote, objects, manifest, options);
  return {
    stream,
    objects: objects.map(({ key, size }) => ({ key, size })),
    size,
    manifest,
    verified: manifest !== null,
  };
}

/** One object to read, as HEAD found it. */
interface _Object {
  key: string;
  size: number;
  etag?: string;
}

/** HEAD of an object, each asked once (the metadata check and the size check share it). */
type _Head = (key: string) => Promise<RemoteObject | null>;

function _heads(remote: Remote, signal: AbortSignal | undefined): _Head {
  const seen = new Map<string, Promise<RemoteObject | null>>();
  return (key) => {
    let h = seen.get(key);
    if (!h) {
      h = remote.head(key, { signal });
      seen.set(key, h);
    }
    return h;
  };
}

/** The backup's manifest when verification is on (and it has one); says why not otherwise. */
async function _manifest(
  remote: Remote,
  key: string,
  options: DownloadOptions,
  head: _Head,
): Promise<Manifest | null> {
  if (!(options.verify ?? true)) {
    options.onUnverified?.(`verification of ${key} is turned off`);
    return null;
  }
  // A backup sent as one PutObject has its SHA-256 in the object's metadata.
  const manifest = await readManifest(
    remote,
    key,
    options.retry,
    options.signal,
    remote.objectMetadata ? await head(key) : undefined,
  );
  if (!manifest) {
    options.onUnverified?.(
      `backup ${key} in remote ${remote.id} has no snap2s3 manifest (written by btrfs2s3?); its bytes cannot be checked`,
    );
  }
  return manifest;
}

/** The manifest's objects, each checked to exist with the size it records. */
async function _objectsOfManifest(
  remote: Remote,
  manifest: Manifest,
  key: string | string[],
  head: _Head,
): Promise<_Object[]> {
  const where = `backup ${manifest.key} in remote ${remote.id}`;
  const listed = manifest.objects.map((o) => o.key);
  if (
    typeof key !== "string" &&
    (key.length !== listed.length || key.some((k, i) => k !== listed[i]))
  ) {
    throw new IntegrityError(
      `${where}: the listing has objects ${
        key.join(", ")
      } but its manifest lists ${
        listed.join(", ")
      }; some object is missing or extra`,
    );
  }
  const objects: _Object[] = [];
  for (const o of manifest.objects) {
    const h = await head(o.key);
    if (!h) {
      throw new IntegrityError(
        `${where}: object ${o.key} of its manifest is missing`,
      );
    }
    if (h.size !== o.size) {
      throw new IntegrityError(
        `${where}: object ${o.key} holds ${h.size} bytes, its manifest says ${o.size}`,
      );
    }
    objects.push({ key: o.key, size: h.size, etag: h.etag });
  }
  return objects;
}

/** The given objects; after a lone `.seqn0` key, its `.seqn1`, ... as long as they exist. */
async function _objectsOfKeys(
  remote: Remote,
  key: string | string[],
  head: _Head,
): Promise<_Object[]> {
  const objects: _Object[] = [];
  for (const k of typeof key === "string" ? [key] : key) {
    const h = await head(k);
    if (!h) {
      throw new Error(`backup object ${k} not found in remote ${remote.id}`);
    }
    objects.push({ key: k, size: h.size, etag: h.etag });
  }
  if (typeof key === "string" && /\.seqn0(\.|$)/.test(key)) {
    for (let n = 1;; n++) {
      const k = seqnKey(key, n);
      const h = await head(k);
      if (!h) break;
      objects.push({ key: k, size: h.size, etag: h.etag });
    }
  }
  return objects;
}

/** Range size and ranges in flight of a download: the options, else what fits the remote's budget. */
function _shape(
  remote: Remote,
  options: DownloadOptions,
): { rangeSize: number; width: number } {
  const memory = remote.limits.memory ?? 40 * MiB;
  const rangeSize = options.rangeSize ??
    Math.max(MiB, Math.min(8 * MiB, Math.floor(memory / 2 / MiB) * MiB));
  const width = options.concurrency ??
    Math.max(1, Math.min(4, Math.floor(memory / rangeSize) - 1));
  return { rangeSize, width };
}

/**
 * The concatenated objects, read range by range, hashed and checked at the
 * end. A byte stream: a reader with its own buffer (BYOB) gets the bytes
 * copied into it, and the range buffers are reused; other readers get each
 * range's buffer as it is (no copy; it is theirs then).
 */
function _stream(
  remote: Remote,
  objects: _Object[],
  manifest: Manifest | null,
  options: DownloadOptions,
): ReadableStream<Uint8Array> {
  const hasher = createPartHasher({ worker: options.hashWorker });
  const ac = new AbortController();
  const { rangeSize, width } = _shape(remote, options);
  const pool = new BufferPool(rangeSize * (width + 1));
  const stop = (reason?: unknown) => {
    ac.abort(reason);
    pool.fail(reason);
    hasher.close();
  };
  const signal = options.signal;
  signal?.addEventListener("abort", () => stop(signal.reason), { once: true });
  const policy = retryPolicy(options.retry);
  const queue = new _RangeQueue(
    _ranges(objects, rangeSize),
    width,
    async (r) =>
      await _fetchRange(
        remote,
        objects[r.index],
        r,
        policy,
        ac.signal,
        await pool.get(rangeSize),
      ),
  );
  const progress = new _Progress(options.onProgress);
  /** The range being delivered: its bytes and how many are out. */
  let current: { data: Uint8Array<ArrayBuffer>; at: number } | null = null;
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      try {
        signal?.throwIfAborted();
        if (!current) {
          const data = await queue.next();
          if (data === null) {
            const hex = await hasher.finish();
            hasher.close();
            _checkWhole(remote, manifest, progress.bytes, hex);
            progress.report(true);
            controller.close();
            controller.byobRequest?.respond(0);
            return;
          }
          // The stream hash sees the bytes in order, before the consumer.
          const { data: back } = await hasher.part(data, null);
          current = { data: back as Uint8Array<ArrayBuffer>, at: 0 };
        }
        const { data, at } = current;
        const request = controller.byobRequest;
        if (request?.view) {
          const view = new Uint8Array(
            request.view.buffer,
            request.view.byteOffset,
            request.view.byteLength,
          );
          const n = Math.min(view.length, data.length - at);
          view.set(data.subarray(at, at + n));
          current.at += n;
          if (current.at === data.length) {
            pool.put(data.buffer);
            current = null;
          }
          progress.add(n);
          request.respond(n);
        } else {
          // Handing the buffer over moves it out of the pool.
          pool.forget(data.buffer.byteLength);
          current = null;
          progress.add(data.length - at);
          controller.enqueue(data.subarray(at));
        }
      } catch (e) {
        stop(e);
        throw e;
      }
    },
    cancel(reason) {
      stop(reason);
    },
  });
}

/** Bytes `start`..`end` (inclusive) of object `index`. */
interface _Range {
  index: number;
  start: number;
  end: number;
}

/** Every range of every object, in stream order. */
function _ranges(objects: _Object[], rangeSize: number): _Range[] {
  const ranges: _Range[] = [];
  objects.forEach((o, index) => {
    for (let start = 0; start < o.size; start += rangeSize) {
      ranges.push({
        index,
        start,
        end: Math.min(o.size, start + rangeSize) - 1,
      });
    }
  });
  return ranges;
}

/** Ranges fetched `width` ahead of the consumer, delivered in order. */
class _RangeQueue {
  #next = 0;
  readonly #queue: Promise<Uint8Array<ArrayBuffer>>[] = [];

  constructor(
    readonly ranges: _Range[],
    readonly width: number,
    readonly fetch: (r: _Range) => Promise<Uint8Array<ArrayBuffer>>,
  ) {}

  /** The next range's bytes; null after the last. */
  async next(): Promise<Uint8Array<ArrayBuffer> | null> {
    this.#fill();
    const p = this.#queue.shift();
    if (!p) return null;
    const data = await p;
    this.#fill();
    return data;
  }

  #fill(): void {
    while (this.#queue.length < this.width && this.#next < this.ranges.length) {
      const p = this.fetch(this.ranges[this.#next++]);
      p.catch(() => {}); // handled when its turn comes
      this.#queue.push(p);
    }
  }
}

/** Counts delivered bytes and reports them at most every 200 ms, and at the end. */
class _Progress {
  bytes = 0;
  readonly #t0 = performance.now();
  #last = 0;

  constructor(readonly onProgress: ProgressCallback | undefined) {}

  add(n: number): void {
    this.bytes += n;
    this.report(false);
  }

  report(done: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!done && now - this.#last < 200) return;
    this.#last = now;
    this.onProgress({
      bytes: this.bytes,
      elapsedMs: now - this.#t0,
      ...(done ? { done } : {}),
    });
  }
}

/** Throws when the whole stream does not match its manifest. */
function _checkWhole(
  remote: Remote,
  manifest: Manifest | null,
  total: number,
  hex: string,
): void {
  if (manifest && (total !== manifest.size || hex !== manifest.sha256)) {
    throw new IntegrityError(
      `backup ${manifest.key} in remote ${remote.id} is corrupt: read ${total} bytes with SHA-256 ${hex}, its manifest records ${manifest.size} bytes with SHA-256 ${manifest.sha256}`,
    );
  }
}

/** Bytes per read of a body (one buffer per attempt, reused). */
const _SCRATCH = 256 * 1024;

/**
 * Reads one range into `buf` (at least the range's size), through one small
 * reused buffer when the body is a byte stream (no chunk allocated per
 * read), resuming with a ranged GET after a
 * failure mid-body, per the retry policy (attempts count failures in a row
 * without progress). Returns the range's bytes (a view of `buf`).
 */
async function _fetchRange(
  remote: Remote,
  o: _Object,
  range: _Range,
  policy: RetryPolicy,
  signal: AbortSignal,
  buf: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const { start, end } = range;
  const size = end - start + 1;
  let got = 0;
  const tooLong = () =>
    new IntegrityError(
      `${o.key} in remote ${remote.id} sent more than the ${size} bytes asked for: it changed while being read`,
    );
  const attempt = async () => {
    const whole = start === 0 && got === 0 && end === o.size - 1;
    const body = await remote.get(o.key, {
      range: whole ? undefined : { start: start + got, end },
      ifMatch: o.etag,
      signal,
    });
    let byob: ReadableStreamBYOBReader | null = null;
    try {
      byob = body.getReader({ mode: "byob" });
    } catch {
      // not a byte stream
    }
    const reader = byob ?? body.getReader();
    // Reads land in one small buffer, not the range's: a failed read loses
    // the buffer it was given, and the range keeps what came before.
    let scratch = byob ? new ArrayBuffer(_SCRATCH) : null;
    try {
      for (;;) {
        let chunk: Uint8Array;
        if (byob) {
          // Up to one byte more than is left: an object that grew shows.
          const r = await byob.read(
            new Uint8Array(scratch!, 0, Math.min(_SCRATCH, size - got + 1)),
          );
          if (r.done) break;
          scratch = r.value.buffer as ArrayBuffer;
          chunk = r.value;
        } else {
          const r = await (reader as ReadableStreamDefaultReader<Uint8Array>)
            .read();
          if (r.done) break;
          chunk = r.value;
        }
        if (got + chunk.length > size) throw tooLong();
        buf.set(chunk, got);
        got += chunk.length;
        signal.throwIfAborted();
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw e;
    }
    if (got < size) {
      throw Object.assign(
        new Error(`${o.key} ended ${size - got} bytes early`),
        { code: "ERR_STREAM_PREMATURE_CLOSE" },
      );
    }
  };
  await withRetry(
    `download of ${o.key} from remote ${remote.id}`,
    attempt,
    policy,
    {
      signal,
      progress: () => got,
      passThrough: (e) => e instanceof IntegrityError,
    },
  );
  return buf.subarray(0, size);
}
