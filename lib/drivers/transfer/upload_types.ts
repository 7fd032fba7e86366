/**
 * The options and result of an upload ({@linkcode uploadStream} in upload.ts).
 *
 * @module
 */

import type { Manifest } from "./manifest.ts";
import type { ProgressCallback } from "./progress.ts";
import type { UploadJournal } from "./upload_journal.ts";

/** Options of {@linkcode uploadStream}; unset fields come from the remote's limits. */
export interface UploadOptions {
  /** Size of the first 1,000 parts in bytes (later parts grow, see the module doc). */
  partSize?: number;
  /** Parts sent at once. */
  concurrency?: number;
  /**
   * Most bytes of part buffers at once; alone it sets the part size and
   * concurrency (see memory_budget.ts). Default: the sizes given, else the
   * remote's budget.
   */
  memory?: number;
  /** Largest object; a longer stream continues in `.seqn1`, ... */
  maxObjectSize?: number;
  /** Cap of the growing part size (objects end sooner). */
  maxPartSize?: number;
  /** Keep every part the same size (implied by providers that need it). */
  equalParts?: boolean;
  /** Storage class of the objects. */
  storageClass?: string;
  /** Called after each part and once at the end. */
  onProgress?: ProgressCallback;
  /** Cancels the upload (everything is undone). */
  signal?: AbortSignal;
  /** Hash in a worker thread (costs about 18 MiB; see _hasher.ts); default on the main thread. */
  hashWorker?: boolean;
  /** Hash on the main thread even when `hashWorker` is set (the default without it). */
  inlineHashing?: boolean;
  /** Records progress so that a killed upload can be resumed (see the module doc). */
  journal?: UploadJournal;
  /** What produces the stream (send parent, pipe stages): a journal is resumed only when it matches. */
  fingerprint?: string;
}

/** What {@linkcode uploadStream} stored. */
export interface UploadResult extends Manifest {
  /** Key of the manifest written; null when the SHA-256 went into the object's metadata. */
  manifestKey: string | null;
  /** Parts sent over all objects (1 for an object sent with one PutObject). */
  parts: number;
  /** Parts of an interrupted upload the store already held, and their bytes: not sent again. */
  reused: { parts: number; bytes: number };
  /** Whether an interrupted upload was taken up again (`reused` may still be 0: a stream that came out different). */
  resumed: boolean;
  /** Most bytes of part buffers held at once (never above the budget). */
  peakBufferBytes: number;
}
