/**
 * The part-size schedule of uploads: the first 1,000 parts have the
 * configured size, and the size doubles every 1,000 parts after that, up to
 * the provider's largest part (providers that need equal parts keep one
 * size); and what that schedule implies for object sizes and memory.
 *
 * Under a memory budget (the remote's `memory`), parts grow only up to a
 * third of it, so that two parts can be sent while the next is read; fewer
 * parts are sent at once as they grow. Objects then end before the
 * provider's largest object, and a longer stream continues in `.seqn1`, ...
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import { fitMemory } from "../remote/memory_budget.ts";
import type { Remote, RemoteLimits } from "../remote/remote.ts";

/** Parts per step of the part-size schedule. */
export const PARTS_PER_STEP = 1000;

/** Size of part `partNumber` (1-based) under the growth rule of the module doc. */
export function partSizeFor(
  partNumber: number,
  firstPartSize: number,
  limits: Pick<RemoteLimits, "maxPartSize" | "equalParts">,
): number {
  if (limits.equalParts) return firstPartSize;
  const step = Math.floor((partNumber - 1) / PARTS_PER_STEP);
  return Math.min(limits.maxPartSize, firstPartSize * 2 ** Math.min(step, 40));
}

/** Largest object the schedule reaches within the provider's part count and object limits. */
export function objectCapacity(
  firstPartSize: number,
  limits: Pick<
    RemoteLimits,
    "maxPartSize" | "equalParts" | "maxParts" | "maxObjectSize"
  >,
): number {
  if (limits.maxParts >= Number.MAX_SAFE_INTEGER / firstPartSize) {
    return limits.maxObjectSize;
  }
  let total = 0;
  for (let n = 1; n <= limits.maxParts; n++) {
    total += partSizeFor(n, firstPartSize, limits);
    if (total >= limits.maxObjectSize) return limits.maxObjectSize;
  }
  return total;
}

/** Most bytes of parts held at once when parts are `partSize` long, without a budget (see the module doc). */
export function memoryBound(
  firstPartSize: number,
  concurrency: number,
  partSize = firstPartSize,
): number {
  return Math.max(firstPartSize * (concurrency + 1), 2 * partSize);
}

/** The largest part a budget lets parts grow to: a third of it (whole MiB), at least `first`. */
export function growthCap(first: number, memory: number): number {
  return Math.max(first, Math.floor(memory / 3 / MiB) * MiB);
}

/**
 * Parts sent at once when parts are `partSize` long: `concurrency`, or as
 * many as fit in the budget beside the one being read (at least one).
 */
export function sendWidth(
  memory: number,
  concurrency: number,
  partSize: number,
): number {
  return Math.max(
    1,
    Math.min(concurrency, Math.floor(memory / partSize) - 1),
  );
}

/** The sizes one upload works with. */
export interface UploadShape {
  /** The remote's limits with the caller's overrides (`maxPartSize` capped by the budget). */
  limits: RemoteLimits;
  /** Size of the first parts. */
  first: number;
  /** Parts sent at once. */
  concurrency: number;
  /** Bytes of part buffers held at once, at most (being read, hashed or sent). */
  memory: number;
  /** Largest object the schedule reaches. */
  objMax: number;
}

/** The caller's size options over the remote's limits; a RangeError names a value out of range. */
export function uploadShape(
  remote: Pick<Remote, "id" | "limits">,
  options: {
    partSize?: number;
    concurrency?: number;
    memory?: number;
    maxObjectSize?: number;
    maxPartSize?: number;
    equalParts?: boolean;
  },
): UploadShape {
  const given: RemoteLimits = {
    ...remote.limits,
    equalParts: options.equalParts ?? remote.limits.equalParts,
    maxPartSize: Math.min(
      remote.limits.maxPartSize,
      options.maxPartSize ?? Infinity,
    ),
  };
  const where = `remote ${remote.id}`;
  const sized = options.partSize !== undefined ||
    options.concurrency !== undefined;
  const fitted = options.memory !== undefined
    ? _fit(where, options.memory, given, options)
    : undefined;
  const first = options.partSize ?? fitted?.partSize ?? given.partSize;
  const concurrency = options.concurrency ?? fitted?.concurrency ??
    given.concurrency;
  _check(where, first, concurrency, given, options.maxObjectSize);
  const held = first * (concurrency + 1);
  // Explicit sizes without a budget make their own; a remote whose limits
  // predate budgets has the one its sizes imply.
  const memory = options.memory ??
    (sized ? held : Math.max(given.memory ?? 0, held));
  if (held > memory) {
    throw new RangeError(
      `${where}: part size ${first} × (concurrency ${concurrency} + 1) is above the memory budget of ${memory} bytes; lower the part size or concurrency, or raise the memory budget`,
    );
  }
  const limits: RemoteLimits = {
    ...given,
    maxPartSize: Math.min(given.maxPartSize, growthCap(first, memory)),
  };
  const objMax = objectCapacity(first, {
    ...limits,
    maxObjectSize: options.maxObjectSize ?? limits.maxObjectSize,
  });
  return { limits, first, concurrency, memory, objMax };
}

function _fit(
  where: string,
  memory: number,
  limits: RemoteLimits,
  given: { partSize?: number; concurrency?: number },
): { partSize: number; concurrency: number } {
  try {
    return fitMemory(memory, limits, {
      partSize: given.partSize,
      concurrency: given.concurrency,
    });
  } catch (e) {
    throw new RangeError(`${where}: ${(e as Error).message}`);
  }
}

function _check(
  where: string,
  first: number,
  concurrency: number,
  limits: RemoteLimits,
  maxObjectSize: number | undefined,
): void {
  if (!Number.isSafeInteger(first) || first < limits.minPartSize) {
    throw new RangeError(
      `${where}: part size ${first} is below the minimum of ${limits.minPartSize} bytes; raise the part size`,
    );
  }
  if (first > limits.maxPartSize) {
    throw new RangeError(
      `${where}: part size ${first} is above the maximum of ${limits.maxPartSize} bytes; lower the part size`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new RangeError(
      `${where}: concurrency ${concurrency} must be a whole number from 1 to 64`,
    );
  }
  if (
    maxObjectSize !== undefined &&
    (!Number.isSafeInteger(maxObjectSize) || maxObjectSize < 1 ||
      maxObjectSize > limits.maxObjectSize)
  ) {
    throw new RangeError(
      `${where}: maximum object size ${maxObjectSize} must be a whole number from 1 to ${limits.maxObjectSize}`,
    );
  }
}
