/**
 * Download of a backup as one stream: its object (or its `.seqn` objects in
 * order), resuming with a ranged GET after a mid-stream failure, and checking
 * the SHA-256 recorded in the backup's manifest at the end. A mismatch errors
 * the stream, so a consumer (`btrfs receive`) sees a failure, never a quiet
 * success.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Remote } from "../remote/remote.ts";
import { type Manifest, readManifest, seqnKey } from "./manifest.ts";
import type { ProgressCallback } from "./progress.ts";
import {
  backoffDelay,
  classifyError,
  explainError,
  RemoteError,
  type RetryOptions,
  retryPolicy,
} from "./retry.ts";

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
  const hash = createHash("sha256");
  const t0 = performance.now();
  let lastReport = 0;
  let total = 0;
  let index = 0;
  let offset = 0;
  let body: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let failures = 0;
  let firstFailure = 0;

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

  const open = async () => {
    const o = objects[index];
    body = (await remote.get(o.key, {
      range: offset > 0 ? { start: offset } : undefined,
      ifMatch: o.etag,
    })).getReader();
  };

  const finish = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (manifest) {
      const hex = hash.digest("hex");
      if (total !== manifest.size || hex !== manifest.sha256) {
        controller.error(
          new IntegrityError(
            `backup ${manifest.key} in remote ${remote.id} is corrupt: read ${total} bytes with SHA-256 ${hex}, its manifest records ${manifest.size} bytes with SHA-256 ${manifest.sha256}`,
          ),
        );
        return;
      }
    }
    report(true);
    controller.close();
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        options.signal?.throwIfAborted();
        if (index >= objects.length) return finish(controller);
        const o = objects[index];
        try {
          if (!body) {
            if (offset >= o.size) {
              index++;
              offset = 0;
              continue;
            }
            await open();
          }
          const r = await body!.read();
          if (r.done) {
            body = null;
            if (offset < o.size) {
              throw Object.assign(
                new Error(
                  `${o.key} ended after ${offset} of ${o.size} bytes`,
                ),
                { code: "ERR_STREAM_PREMATURE_CLOSE" },
              );
            }
            continue;
          }
          let chunk = r.value;
          if (offset + chunk.length > o.size) {
            throw new IntegrityError(
              `${o.key} in remote ${remote.id} sent more than its ${o.size} bytes: it changed while being read`,
            );
          }
          offset += chunk.length;
          total += chunk.length;
          if (chunk.length === 0) continue;
          if (!(chunk instanceof Uint8Array)) chunk = new Uint8Array(chunk);
          hash.update(chunk);
          failures = 0;
          controller.enqueue(chunk);
          report(false);
          return;
        } catch (error) {
          const b = body as ReadableStreamDefaultReader<Uint8Array> | null;
          body = null;
          b?.cancel().catch(() => {});
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
              `download of ${o.key} from remote ${remote.id} failed ${failures} times in a row at byte ${offset}: ${
                (error as Error)?.message ?? error
              } — check connectivity and try again`,
              c.code,
              c.status,
              true,
              { cause: error },
            );
          }
          policy.onRetry?.({
            what: `download of ${o.key} at byte ${offset}`,
            attempt: failures,
            delayMs: delay,
            error,
          });
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    },
    cancel(reason) {
      const b = body as ReadableStreamDefaultReader<Uint8Array> | null;
      body = null;
      return b?.cancel(reason);
    },
  }, { highWaterMark: 16 });
}
