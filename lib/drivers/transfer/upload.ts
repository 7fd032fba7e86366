/**
 * Streaming upload of a stream of unknown length (a `btrfs send` through its
 * pipe stages) with bounded memory.
 *
 * - The stream is buffered only until it proves larger than one part: a stream
 *   that ends first goes up as one PutObject (a zero-length stream makes a
 *   valid empty object); otherwise a multipart upload sends parts
 *   concurrently while the next part is read.
 * - Memory: parts being read, hashed or sent never hold more than the
 *   remote's memory budget (`memory`, default 80 MiB; see
 *   memory_budget.ts), which sets the part size and concurrency (10 MiB × 7
 *   by default). Part buffers are reused, and go from the read through the
 *   hash to the socket without a copy.
 * - Part sizes: the first 1,000 parts have the first part size, and the size
 *   doubles every 1,000 parts after that, up to a third of the budget (or
 *   `maxPartSize`, or the provider's 5 GiB): as parts grow, fewer are sent at
 *   once. An object ends after 10,000 parts: 232 GiB at the defaults (the
 *   5 TiB most providers allow from a budget of about 3.2 GiB); providers
 *   that need equal parts (R2) keep one size.
 * - A stream longer than the largest object continues in further objects,
 *   `.seqn1`, `.seqn2`, ... (derived from the `.seqn0` key given).
 * - Integrity: every part carries a checksum the store verifies (computed in
 *   place: Content-MD5, x-amz-checksum-sha256 on AWS, or on other S3
 *   endpoints the part's SHA-256 as the signed x-amz-content-sha256, which
 *   costs less CPU than MD5); completed objects are checked (size, ETag or
 *   composite checksum).
 * - Manifest first: the SHA-256 of the whole stream is known once its last
 *   byte is read, so the manifest is written then, before any object of the
 *   backup completes (multipart uploads stay open, a last one-part object
 *   waits in memory); the objects then complete last first. A completed
 *   object thus always has a manifest; a kill in between leaves a manifest
 *   without objects, which a later update deletes.
 * - One request for a small backup: a stream sent as one PutObject to a
 *   remote with object metadata (S3) carries its SHA-256 in the object's own
 *   metadata (`x-amz-meta-snap2s3-sha256`), stored atomically with it, so it
 *   has no manifest file; and where the store verified the body's checksum
 *   (every S3 put carries one) no HEAD follows. Multipart and multi-object
 *   backups keep their manifest and their HEAD; so does a local directory.
 * - If the producer fails (its stream errors) or the store keeps failing,
 *   everything is undone: open multipart uploads are aborted and objects
 *   already completed by this upload are deleted, so no object is left that
 *   looks like a complete backup, and the manifest is deleted again.
 * - Resume (with a journal, see upload_journal.ts): a run killed outright
 *   leaves its multipart uploads open; the next upload of the same key, with
 *   the same fingerprint and part schedule, sends only the parts whose digest
 *   differs from the journal's or that the store no longer holds.
 *
 * @module
 */

import type { Remote } from "../remote/remote.ts";
import { ProducerError } from "./_stored.ts";
import { uploadShape } from "./part_schedule.ts";
import { UploadRun } from "./_upload_run.ts";
import type { UploadOptions, UploadResult } from "./upload_types.ts";

export { ProducerError };
export type { UploadOptions, UploadResult };

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
  return await new UploadRun({
    remote,
    key,
    stream,
    options,
    ...uploadShape(remote, options),
  }).run();
}
