/**
 * What an upload checks of each object it stored, how it takes back what it
 * stored when it fails, and the error it raises when its input failed.
 *
 * @module
 */

import type { MultipartUpload, Remote } from "../remote/remote.ts";

/** Raised when the input stream fails; the upload was undone. */
export class ProducerError extends Error {
  /** `options.cause` holds the input stream's error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProducerError";
  }
}

/** Checks that `objKey` is stored with `size` bytes (and the completed upload's ETag). */
export async function verifyStored(
  remote: Remote,
  objKey: string,
  size: number,
  etag: string | undefined,
): Promise<void> {
  const h = await remote.head(objKey);
  const where = `upload of ${objKey} to remote ${remote.id}`;
  if (!h) {
    throw new Error(`${where}: the object is missing right after it completed`);
  }
  if (h.size !== size) {
    throw new Error(
      `${where}: the store holds ${h.size} bytes, ${size} were sent`,
    );
  }
  if (etag && h.etag && etag !== h.etag) {
    throw new Error(
      `${where}: the stored ETag ${h.etag} differs from the completed upload's ${etag}`,
    );
  }
}

/** Aborts the multipart uploads still open; returns what failed. */
export async function abortOpen(
  open: Iterable<MultipartUpload>,
): Promise<string[]> {
  const problems: string[] = [];
  for (const mp of open) {
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
  return problems;
}

/**
 * Deletes the objects an upload stored, then its manifest (when written);
 * returns what failed. Objects first: a manifest without objects is
 * harmless (and cleaned up by the next update); an object without one is not.
 */
export async function deleteStored(
  remote: Remote,
  objects: string[],
  manifest: string | null,
): Promise<string[]> {
  const steps = [objects];
  if (manifest !== null) steps.push([manifest]);
  for (const keys of steps) {
    if (keys.length === 0) continue;
    try {
      await remote.delete(keys);
    } catch (e) {
      return [
        `deleting ${keys.join(", ")} failed (${
          (e as Error)?.message ?? e
        }); delete them by hand`,
      ];
    }
  }
  return [];
}
