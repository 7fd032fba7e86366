/**
 * The `Remote` interface: the few object-store operations the transfer manager,
 * the inventory and the commands need, implemented by S3 and a local directory.
 *
 * Keys are always relative to the remote's key prefix (the remote adds it).
 *
 * @module
 */

import type { ColdStorage } from "./cold_storage.ts";

/** One stored object, as a listing or a HEAD reports it. */
export interface RemoteObject {
  /** Key relative to the remote's prefix. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time, when known. */
  lastModified?: Date;
  /** Entity tag without quotes, when known (S3 only). */
  etag?: string;
  /** Storage class, when the listing told (S3 only). */
  storageClass?: string;
  /** User metadata (`x-amz-meta-*`, names lower case), when a HEAD told (S3 only). */
  metadata?: Record<string, string>;
}

/** A byte range of an object: `start` inclusive, `end` inclusive (to the end when absent). */
export interface ByteRange {
  /** First byte. */
  start: number;
  /** Last byte (inclusive); the end of the object when absent. */
  end?: number;
}

/** Options of {@linkcode Remote.get}. */
export interface GetOptions {
  /** Only these bytes. */
  range?: ByteRange;
  /** Fail when the object's entity tag is no longer this one (S3 only). */
  ifMatch?: string;
  /** Cancels the request and any retry backoff. */
  signal?: AbortSignal;
}

/** Options of a whole-object put. */
export interface PutOptions {
  /** Storage class (S3); ignored by the local directory. */
  storageClass?: string;
  /** Content type; defaults to `application/octet-stream`. */
  contentType?: string;
  /**
   * User metadata stored with the object, atomically with it (S3
   * `x-amz-meta-<name>`; names lower case). Only where
   * {@linkcode Remote.objectMetadata} is true.
   */
  metadata?: Record<string, string>;
}

/** Checksums of a part or object, computed by the caller (raw digest bytes). */
export interface Checksums {
  /** MD5 digest (16 bytes). */
  md5?: Uint8Array;
  /** SHA-256 digest (32 bytes). */
  sha256?: Uint8Array;
}

/** What the store said about one uploaded part. */
export interface PartReceipt {
  /** 1-based part number. */
  partNumber: number;
  /** Entity tag of the part, without quotes (S3) or a local marker. */
  etag: string;
  /** Base64 SHA-256 of the part, when the server checked one. */
  checksumSha256?: string;
  /** Hex MD5 of the part, when the server checked one. */
  md5?: string;
  /** Bytes in the part. */
  size: number;
}

/** The store's view of a completed object. */
export interface CompletedObject {
  /** Key relative to the remote's prefix. */
  key: string;
  /** Bytes stored. */
  size: number;
  /** Entity tag without quotes, when the store has them. */
  etag?: string;
}

/**
 * One multipart upload in progress. Parts may be sent concurrently and out of
 * order; `offset` is the part's byte offset in the object (the local directory
 * writes there; S3 ignores it).
 */
export interface MultipartUpload {
  /** The key the object will have. */
  readonly key: string;
  /** The upload's id (S3's UploadId; the partial file's name in a local directory). */
  readonly id: string;
  /** Sends one part; the data is never re-read from a producer, so callers may retry with the same bytes. */
  uploadPart(
    partNumber: number,
    data: Uint8Array,
    offset: number,
    checksums?: Checksums,
  ): Promise<PartReceipt>;
  /** Completes the object from the given parts (in part-number order). Only then is the key visible. */
  complete(parts: PartReceipt[]): Promise<CompletedObject>;
  /** Throws the upload away; no trace is left under the key. Safe to call more than once. */
  abort(): Promise<void>;
}

/** A multipart upload (S3) or partial file (local directory) left open, e.g. by a run that was killed. */
export interface OpenUpload {
  /** The key the object would have had (relative to the remote's prefix); null for a partial file of unknown key. */
  key: string | null;
  /** The upload's id (see {@linkcode MultipartUpload.id}). */
  id: string;
  /** When it was started, when known. */
  initiated?: Date;
}

/** An open upload taken up again: the parts it holds, and the means to add to it. */
export interface ResumedUpload extends MultipartUpload {
  /** Parts the store holds, in part-number order. */
  readonly stored: readonly PartReceipt[];
}

/** Provider limits that shape uploads. */
export interface RemoteLimits {
  /** Largest object the provider accepts (bytes). */
  maxObjectSize: number;
  /** Most parts in one multipart upload. */
  maxParts: number;
  /** Smallest part but the last (bytes). */
  minPartSize: number;
  /** Largest part (bytes). */
  maxPartSize: number;
  /** Whether all parts but the last must be the same size (Cloudflare R2). */
  equalParts: boolean;
  /** Default first part size (bytes). */
  partSize: number;
  /** Default number of parts in flight. */
  concurrency: number;
  /** Default budget of part buffers of one upload or download (bytes). */
  memory: number;
}

/** An object store: an S3 bucket (with an optional key prefix) or a local directory. */
export interface Remote {
  /** The remote's id from the configuration. */
  readonly id: string;
  /** Which implementation this is. */
  readonly kind: "s3" | "local";
  /** Upload limits and defaults. */
  readonly limits: RemoteLimits;
  /**
   * The checksum the store verifies on every part and put (pass it in
   * `checksums` to spare the remote computing it); null when the store has
   * none (a local directory: the bytes never leave the machine).
   */
  readonly partChecksum: "md5" | "sha256" | null;
  /**
   * Whether a put stores `metadata` with the object and a HEAD reads it back
   * (S3); a local directory has none.
   */
  readonly objectMetadata: boolean;
  /** Every object whose key starts with `prefix` (all pages, any depth), in key order. */
  list(prefix?: string): AsyncIterable<RemoteObject>;
  /**
   * The objects at `prefix`'s own level, in key order: keys that start with
   * `prefix` and have no `/` after it, and whose name does not start with
   * `.` (partial files, markers). What lies in deeper folders (copies in
   * `archive/`, other tools' data) is not ours and is never listed here.
   */
  listLevel(prefix?: string): AsyncIterable<RemoteObject>;
  /** The object's size and tag, or null when it does not exist; `signal` cancels it. */
  head(
    key: string,
    options?: { signal?: AbortSignal },
  ): Promise<RemoteObject | null>;
  /**
   * The object's bytes (or a range of them). `ifMatch` makes the read fail
   * when the object changed since it was first read (S3 only).
   */
  get(key: string, options?: GetOptions): Promise<ReadableStream<Uint8Array>>;
  /** Stores a whole object in one request; it appears atomically. */
  put(
    key: string,
    data: Uint8Array,
    options?: PutOptions & { checksums?: Checksums },
  ): Promise<CompletedObject>;
  /** Starts a multipart upload for `key`. */
  createMultipartUpload(
    key: string,
    options?: PutOptions,
  ): Promise<MultipartUpload>;
  /** Deletes the keys (missing keys are fine), in batches of 1000. */
  delete(keys: string[]): Promise<void>;
  /** Multipart uploads still open under `prefix` (S3); partial files (local). */
  listOpenUploads(prefix?: string): Promise<OpenUpload[]>;
  /** Throws an open upload away with every part it holds; one already gone is fine. */
  abortOpenUpload(upload: OpenUpload): Promise<void>;
  /**
   * Takes up an open upload of `key` again, with the parts it holds (S3:
   * ListParts); null when it is gone.
   */
  resumeUpload(key: string, id: string): Promise<ResumedUpload | null>;
  /** Object lock and archive operations, where the store has them (S3). */
  readonly cold?: ColdStorage;
  /**
   * The marker of a local directory that tells it from an empty mount point
   * (absent on S3: a bucket cannot be unmounted).
   */
  readonly marker?: RemoteMarker;
  /** Releases connections and handles. */
  close(): void;
}

/**
 * A file that says "this directory is a snap2s3 remote". It is written with
 * the first object, so a directory that lacks it while its sources have
 * snapshots is most likely an unmounted disk's empty mount point.
 */
export interface RemoteMarker {
  /** Where the marker lives (for messages). */
  readonly path: string;
  /** Whether the marker is there. */
  present(): Promise<boolean>;
  /** Writes the marker (and nothing else); fine when it is there already. */
  write(): Promise<void>;
}
