/**
 * A transfer's memory budget turned into a part size and a concurrency
 * within the provider's limits: parts being read, hashed and sent at once
 * (`partSize × (concurrency + 1)`) never hold more than the budget.
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import type { RemoteLimits } from "./remote.ts";

/** Default budget of part buffers of one upload or download (bytes). */
export const DEFAULT_MEMORY = 80 * MiB;

/** Largest part size chosen from a budget (measured fastest on loopback Ceph). */
const _MAX_FITTED_PART = 16 * MiB;
/** Most parts in flight chosen from a budget. */
const _MAX_FITTED_CONCURRENCY = 16;

/** A part size and concurrency that fill a budget. */
export interface MemoryShape {
  /** Size of the first parts (bytes). */
  partSize: number;
  /** Parts sent at once. */
  concurrency: number;
}

/** The smallest budget a provider allows: two parts of its minimum size (one read, one sent). */
export function minimumMemory(
  limits: Pick<RemoteLimits, "minPartSize">,
): number {
  return 2 * Math.ceil(limits.minPartSize / MiB) * MiB;
}

/**
 * The part size and concurrency that fill `memory` bytes: about an eighth
 * of it per part (whole MiB, from the provider's minimum up to 16 MiB), as
 * many parts in flight as then fit beside the one being read (at most 16).
 * Providers that need equal parts (R2) get a third of it per part instead:
 * their parts never grow, so a larger part means a larger object. A part
 * size or concurrency given is kept, and the other fitted around it.
 *
 * @param memory Bytes of part buffers at once.
 * @param limits The provider's part limits.
 * @param given A part size or concurrency that is set already.
 * @returns The shape; a RangeError when `memory` is below {@linkcode minimumMemory}.
 */
export function fitMemory(
  memory: number,
  limits: Pick<RemoteLimits, "minPartSize" | "maxPartSize" | "equalParts">,
  given: Partial<MemoryShape> = {},
): MemoryShape {
  const least = minimumMemory(limits);
  if (!Number.isSafeInteger(memory) || memory < least) {
    throw new RangeError(
      `memory ${memory} bytes is below the minimum of ${least} bytes (${
        least / MiB
      } MiB: two parts of the provider's smallest size); raise the memory budget`,
    );
  }
  const floor = Math.ceil(limits.minPartSize / MiB) * MiB;
  let share = limits.equalParts ? memory / 3 : memory / 8;
  if (given.concurrency !== undefined) {
    share = memory / (given.concurrency + 1);
  }
  const ceiling = limits.equalParts || given.concurrency !== undefined
    ? limits.maxPartSize
    : Math.min(limits.maxPartSize, _MAX_FITTED_PART);
  const partSize = given.partSize ?? Math.max(
    floor,
    Math.min(ceiling, Math.floor(share / MiB) * MiB),
  );
  const concurrency = given.concurrency ?? Math.max(
    1,
    Math.min(_MAX_FITTED_CONCURRENCY, Math.floor(memory / partSize) - 1),
  );
  return { partSize, concurrency };
}
