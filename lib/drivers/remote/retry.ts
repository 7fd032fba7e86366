/**
 * The one retry helper of object-store requests: transient faults (as
 * {@linkcode classifyError} tells them) are retried with exponential backoff
 * and full jitter, honouring Retry-After, within a number of attempts and a
 * total time budget; permanent faults fail at once with a message that says
 * what to fix. Every wait ends early when the caller's signal aborts.
 *
 * @module
 */

import {
  classifyError,
  type ErrorClass,
  explainError,
  RemoteError,
} from "./errors.ts";

/** Retry settings; every field has a default. */
export interface RetryOptions {
  /** Most attempts per request, the first included (default 10). */
  attempts?: number;
  /** First backoff ceiling in ms (default 200). */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 20,000). */
  maxDelayMs?: number;
  /** Total time one request may spend retrying, in ms (default 15 minutes). */
  budgetMs?: number;
  /** Source of randomness in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
  /** Called before each wait, for logs and tests. */
  onRetry?: (info: RetryInfo) => void;
}

/** What {@linkcode RetryOptions.onRetry} is told. */
export interface RetryInfo {
  /** The operation, as named in errors. */
  what: string;
  /** The attempt that failed (1-based; failures in a row when progress resets the count). */
  attempt: number;
  /** The wait before the next attempt. */
  delayMs: number;
  /** The fault that failed the attempt. */
  error: unknown;
}

/** Resolved retry settings. */
export interface RetryPolicy {
  /** See {@linkcode RetryOptions.attempts}. */
  attempts: number;
  /** See {@linkcode RetryOptions.baseDelayMs}. */
  baseDelayMs: number;
  /** See {@linkcode RetryOptions.maxDelayMs}. */
  maxDelayMs: number;
  /** See {@linkcode RetryOptions.budgetMs}. */
  budgetMs: number;
  /** See {@linkcode RetryOptions.random}. */
  random: () => number;
  /** See {@linkcode RetryOptions.onRetry}. */
  onRetry?: (info: RetryInfo) => void;
}

/** Options of one {@linkcode withRetry} call. */
export interface RetryCallOptions {
  /** Stops retrying, and cuts a pending backoff short, when it aborts. */
  signal?: AbortSignal;
  /**
   * How far the work got (e.g. bytes received). When it grew since the last
   * failure, the failure count and the time budget start again: a long
   * transfer that keeps resuming is not failing.
   */
  progress?: () => number;
  /** Errors passed on as they are, never retried nor wrapped (e.g. integrity failures the caller raised). */
  passThrough?: (error: unknown) => boolean;
}

/** Fills in the defaults of {@linkcode RetryOptions}. */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  const p = {
    attempts: options.attempts ?? 10,
    baseDelayMs: options.baseDelayMs ?? 200,
    maxDelayMs: options.maxDelayMs ?? 20_000,
    budgetMs: options.budgetMs ?? 15 * 60_000,
    random: options.random ?? Math.random,
    onRetry: options.onRetry,
  };
  if (!Number.isInteger(p.attempts) || p.attempts < 1) {
    throw new RangeError(
      `retry attempts must be a whole number of at least 1, got ${p.attempts}`,
    );
  }
  return p;
}

/**
 * The wait before attempt `attempt + 1`: full jitter over an exponentially
 * growing ceiling, but never shorter than the server's Retry-After.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(
    policy.maxDelayMs,
    policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30),
  );
  const jittered = policy.random() * ceiling;
  return Math.max(jittered, retryAfterMs ?? 0);
}

/**
 * Runs `fn` until it succeeds, retrying transient faults per the policy.
 * `what` names the operation in errors ("upload part 3 of backups/x").
 * Permanent faults and exhausted retries throw a {@linkcode RemoteError};
 * an aborted signal throws its reason.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryCallOptions = {},
): Promise<T> {
  const { signal, progress, passThrough } = options;
  let t0 = performance.now();
  let failures = 0;
  let mark = progress?.() ?? 0;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      signal?.throwIfAborted();
      if (passThrough?.(error)) throw error;
      const c = classifyError(error);
      if (!c.transient) throw _permanent(error, what, c);
      const now = progress?.() ?? 0;
      if (now > mark) {
        mark = now;
        failures = 0;
        t0 = performance.now();
      }
      failures++;
      const delayMs = backoffDelay(policy, failures, c.retryAfterMs);
      const spent = performance.now() - t0;
      if (failures >= policy.attempts || spent + delayMs > policy.budgetMs) {
        throw _exhausted(
          error,
          what,
          c,
          failures,
          spent,
          progress !== undefined,
        );
      }
      policy.onRetry?.({ what, attempt: failures, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}

function _permanent(
  error: unknown,
  what: string,
  c: ErrorClass,
): RemoteError {
  if (error instanceof RemoteError) return error;
  return new RemoteError(explainError(error, what), {
    code: c.code,
    status: c.status,
    transient: false,
    cause: error,
  });
}

function _exhausted(
  error: unknown,
  what: string,
  c: ErrorClass,
  failures: number,
  spentMs: number,
  inARow: boolean,
): RemoteError {
  const attempts = `${failures} attempt${failures > 1 ? "s" : ""}${
    inARow ? " in a row without progress" : ""
  }`;
  const status = c.status ? ` (HTTP ${c.status})` : "";
  return new RemoteError(
    `${what} failed after ${attempts} in ${
      (spentMs / 1000).toFixed(1)
    } s: ${c.code}${status}: ${
      (error as Error)?.message ?? error
    } — the store or the network kept failing; check connectivity and try again`,
    { code: c.code, status: c.status, transient: true, cause: error },
  );
}

/**
 * Waits `ms` (rounded up to a whole millisecond; not at all when it is not
 * positive), or rejects with the signal's reason as soon as it aborts (at
 * once when it already has).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    if (!(ms > 0)) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.ceil(ms));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
