/**
 * How many requests a backup of a given size costs, as the transfer manager
 * makes them: `upload.ts` sends a stream that fits in its first part as one
 * PutObject, anything larger as multipart uploads (create, parts, complete)
 * of objects of at most the schedule's capacity; `download.ts` reads objects
 * as ranged GETs. `simulate --price` counts with these, so its figures follow
 * the code.
 *
 * @module
 */

import type { RemoteLimits } from "../remote/remote.ts";
import {
  objectCapacity,
  PARTS_PER_STEP,
  partSizeFor,
} from "./part_schedule.ts";

/** The requests of one upload of `bytes` bytes (the manifest and verification not included). */
export interface UploadRequests {
  /** Bytes of each object (`.seqn0`, `.seqn1`, ...). */
  objects: number[];
  /** Objects sent with one PutObject. */
  puts: number;
  /** Requests of multipart uploads: per object, create + parts + complete. */
  multipartRequests: number;
}

/** Bytes per ranged GET of a download: `downloadStream`'s default `rangeSize` (keep them equal). */
export const DOWNLOAD_RANGE_SIZE = 8 * 1024 * 1024;

/**
 * The requests of uploading a stream of `bytes` bytes with the default part
 * size of a remote with `limits`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { providerPreset } from "../remote/providers.ts";
 * import { uploadRequests } from "./request_shape.ts";
 * const limits = providerPreset("aws").limits; // 10 MiB parts
 * assert.deepEqual(uploadRequests(1000, limits), { objects: [1000], puts: 1, multipartRequests: 0 });
 * const mp = uploadRequests(40 * 2 ** 20, limits); // 4 parts
 * assert.equal(mp.multipartRequests, 4 + 2);
 * ```
 */
export function uploadRequests(
  bytes: number,
  limits: RemoteLimits,
): UploadRequests {
  const first = limits.partSize;
  const objMax = objectCapacity(first, limits);
  const size1 = Math.min(partSizeFor(1, first, limits), objMax);
  const shape: UploadRequests = { objects: [], puts: 0, multipartRequests: 0 };
  let left = bytes;
  do {
    if (left <= size1) {
      shape.objects.push(left);
      shape.puts++;
      left = 0;
      break;
    }
    const size = Math.min(left, objMax);
    shape.objects.push(size);
    shape.multipartRequests += 2 + _parts(size, first, limits);
    left -= size;
  } while (left > 0);
  return shape;
}

/** Parts of one multipart object of `size` bytes, counted a step (1,000 parts) at a time. */
function _parts(
  size: number,
  first: number,
  limits: Pick<RemoteLimits, "maxPartSize" | "equalParts">,
): number {
  let parts = 0;
  let offset = 0;
  while (offset < size) {
    const part = partSizeFor(parts + 1, first, limits);
    const step = PARTS_PER_STEP - (parts % PARTS_PER_STEP);
    const n = Math.min(step, Math.ceil((size - offset) / part));
    parts += n;
    offset += n * part;
  }
  return parts;
}

/** Ranged GETs to read objects of these sizes (an empty object takes none). */
export function rangedGets(
  objects: readonly number[],
  rangeSize: number = DOWNLOAD_RANGE_SIZE,
): number {
  return objects.reduce((n, b) => n + Math.ceil(b / rangeSize), 0);
}
