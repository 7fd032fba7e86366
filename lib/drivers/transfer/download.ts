/**
 * Download of a backup as one stream: its object (or its `.seqn` objects in
 * order), read as ranged GETs of 8 MiB, 4 at a time (so a slow consumer holds
 * at most 40 MiB), each resuming with a ranged GET after a mid-body failure,
 * and checking the SHA-256 recorded in the backup's manifest at the end. A
 * mismatch errors the stream, so a consumer (`btrfs receive`) sees a failure,
 * never a quiet success.
 *
 * @module
 */

import { createPartHasher } from "./_hasher.ts";
import type { Remote } from "../remote/remote.ts";
import { type Manifest, readManifest, seqnKey } from "./manifest.ts";
import type { ProgressCallback } from "./progress.ts";
import {
  backoffDelay,
  classifyError,
  explainError,
  RemoteError,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
} from "../remote/retry.ts";

const _MiB = 1024 * 1024;

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
  /** Bytes per ranged GET (default 8 MiB). */
  rangeSize?: number;
  /** Ranged GETs in flight (default 4); memory is rangeSize × (concurrency + 1). */
  concurrency?: number;
  /** Hash on the main thread instead of a worker. */
  inlineHashing?: boolean;
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
  const verify = options.verify ?? true;
  let manifest: Manifest | null = null;
  if (verify) {
    manifest = await readManifest(remote, keys[0], options.retry);
    if (!manifest) {
      options.onUnverified?.(
        `backup ${
          keys[0]
        } in remote ${remote.id} has no snap2s3 manifest (written by btrfs2s3?); its bytes cannot be checked`,
      );
    }
  } else {
    options.onUnverified?.(`verification of ${keys[0]} is turned off`);
  }
  let objects: { key: string; size: number; etag?: string }[];
  if (manifest) {
    if (
      typeof key !== "string" &&
      (key.length !== manifest.objects.length ||
        key.some((k, i) => k !== manifest!.objects[i].key))
    ) {
      throw new IntegrityError(
        `backup ${keys[0]} in remote ${remote.id}: the listing has objects ${
          key.join(", ")
        } but its manifest lists ${
          manifest.objects.map((o) => o.key).join(", ")
        }; some object is missing or extra`,
      );
    }
    objects = [];
    for (const o of manifest.objects) {
      const h = await remote.head(o.key);
      if (!h) {
        throw new IntegrityError(
          `backup ${
            keys[0]
          } in remote ${remote.id}: object ${o.key} of its manifest is missing`,
        );
      }
      if (h.size !== o.size) {
        throw new IntegrityError(
          `backup ${
            keys[0]
          } in remote ${remote.id}: object ${o.key} holds ${h.size} bytes, its manifest says ${o.size}`,
        );
      }
      objects.push({ key: o.key, size: h.size, etag: h.etag });
    }
  } else {
    objects = [];
    for (const k of keys) {
      const h = await remote.head(k);
      if (!h) {
        throw new Error(`backup object ${k} not found in remote ${remote.id}`);
      }
      objects.push({ key: k, size: h.size, etag: h.etag });
    }
    if (typeof key === "string" && /\.seqn0(\.|$)/.test(key)) {
      for (let n = 1;; n++) {
        const k = seqnKey(key, n);
        const h = await remote.head(k);
        if (!h) break;
        objects.push({ key: k, size: h.size, etag: h.etag });
      }
    }
  }
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

function _stream(
  remote: Remote,
  objects: { key: string; size: number; etag?: string }[],
  manifest: Manifest | null,
  options: DownloadOptions,
): ReadableStream<Uint8Array> {
  const policy = retryPolicy(options.retry);
  const rangeSize = options.rangeSize ?? 8 * _MiB;
  const width = options.concurrency ?? 4;
  const hasher = createPartHasher({ inline: options.inlineHashing });
  const t0 = performance.now();
  let lastReport = 0;
  let total = 0;
  const ac = new AbortController();
  const stop = (reason?: unknown) => {
    ac.abort(reason);
    hasher.close();
  };
  options.signal?.addEventListener(
    "abort",
    () => stop(options.signal!.reason),
    {
      once: true,
    },
  );

  // Every range of every object, in stream order.
  const ranges: { index: number; start: number; end: number }[] = [];
  objects.forEach((o, index) => {
    for (let start = 0; start < o.size; start += rangeSize) {
      ranges.push({
        index,
        start,
        end: Math.min(o.size, start + rangeSize) - 1,
      });
    }
  });
  let next = 0;
  const queue: Promise<Uint8Array<ArrayBuffer>>[] = [];
  const fill = () => {
    while (queue.length < width && next < ranges.length) {
      const r = ranges[next++];
      const p = _fetchRange(
        remote,
        objects[r.index],
        r.start,
        r.end,
        policy,
        ac.signal,
      );
      p.catch(() => {}); // handled when its turn comes
      queue.push(p);
    }
  };

  const report = (done: boolean) => {
    if (!options.onProgress) return;
    const now = performance.now();
    if (!done && now - lastReport < 200) return;
    lastReport = now;
    options.onProgress({
      bytes: total,
      elapsedMs: now - t0,
      ...(done ? { done } : {}),
    });
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        options.signal?.throwIfAborted();
        fill();
        const p = queue.shift();
        if (!p) {
          const hex = await hasher.finish();
          hasher.close();
          if (
            manifest && (total !== manifest.size || hex !== manifest.sha256)
          ) {
            throw new IntegrityError(
              `backup ${manifest.key} in remote ${remote.id} is corrupt: read ${total} bytes with SHA-256 ${hex}, its manifest records ${manifest.size} bytes with SHA-256 ${manifest.sha256}`,
            );
          }
          report(true);
          controller.close();
          return;
        }
        const data = await p;
        fill();
        // Hash off the main thread; the bytes come back for the consumer.
        const { data: back } = await hasher.part(data, null);
        total += back.length;
        controller.enqueue(back);
        report(false);
      } catch (e) {
        stop(e);
        throw e;
      }
    },
    cancel(reason) {
      stop(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Reads bytes `start`..`end` of an object into one buffer, resuming with a
 * ranged GET after a failure mid-body, per the retry policy (attempts count
 * failures in a row without progress).
 */
async function _fetchRange(
  remote: Remote,
  o: { key: string; size: number; etag?: string },
  start: number,
  end: number,
  policy: RetryPolicy,
  signal: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const buf = new Uint8Array(end - start + 1);
  let got = 0;
  let failures = 0;
  let firstFailure = 0;
  while (got < buf.length) {
    signal.throwIfAborted();
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const whole = start === 0 && got === 0 && end === o.size - 1;
      reader = (await remote.get(o.key, {
        range: whole ? undefined : { start: start + got, end },
        ifMatch: o.etag,
      })).getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        if (got + r.value.length > buf.length) {
          throw new IntegrityError(
            `${o.key} in remote ${remote.id} sent more than the ${buf.length} bytes asked for: it changed while being read`,
          );
        }
        buf.set(r.value, got);
        got += r.value.length;
        if (r.value.length) failures = 0;
        signal.throwIfAborted();
      }
      if (got < buf.length) {
        throw Object.assign(
          new Error(`${o.key} ended ${buf.length - got} bytes early`),
          { code: "ERR_STREAM_PREMATURE_CLOSE" },
        );
      }
    } catch (error) {
      reader?.cancel().catch(() => {});
      signal.throwIfAborted();
      if (error instanceof IntegrityError) throw error;
      const c = classifyError(error);
      if (!c.transient) {
        if (error instanceof RemoteError) throw error;
        throw new RemoteError(
          explainError(error, `download of ${o.key}`),
          c.code,
          c.status,
          false,
          { cause: error },
        );
      }
      failures++;
      if (failures === 1) firstFailure = performance.now();
      const delay = backoffDelay(policy, failures, c.retryAfterMs);
      if (
        failures >= policy.attempts ||
        performance.now() - firstFailure + delay > policy.budgetMs
      ) {
        throw new RemoteError(
          `download of ${o.key} from remote ${remote.id} failed ${failures} times in a row at byte ${
            start + got
          }: ${
            (error as Error)?.message ?? error
          } — check connectivity and try again`,
          c.code,
          c.status,
          true,
          { cause: error },
        );
      }
      policy.onRetry?.({
        what: `download of ${o.key} at byte ${start + got}`,
        attempt: failures,
        delayMs: delay,
        error,
      });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return buf;
}
