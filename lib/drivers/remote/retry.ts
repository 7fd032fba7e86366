/**
 * Retry policy for object-store requests: transient faults (timeouts, resets,
 * 500, 502, 503 SlowDown, 429, RequestTimeout) are retried with exponential
 * backoff and full jitter, honouring Retry-After, within a number of attempts
 * and a total time budget; permanent faults fail at once with a message that
 * says what to fix.
 *
 * @module
 */

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
  /** The attempt that failed (1-based). */
  attempt: number;
  /** The wait before the next attempt. */
  delayMs: number;
  /** The fault that failed the attempt. */
  error: unknown;
}

/** How an error should be handled. */
export interface ErrorClass {
  /** Worth retrying. */
  transient: boolean;
  /** S3 error code, errno code or error name. */
  code: string;
  /** HTTP status, when there was a response. */
  status?: number;
  /** Delay the server asked for (Retry-After), in ms. */
  retryAfterMs?: number;
}

/** An error the retry policy gave up on; `cause` holds the last underlying error. */
export class RemoteError extends Error {
  /** `code` and `status` of the fault; `transient` when retries ran out. */
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | undefined,
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "RemoteError";
  }
}

const _TRANSIENT_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "TooManyRequestsException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "TimeoutError",
  "NetworkError",
  "ETIMEDOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ConnectionReset",
  "ConnectionAborted",
  "ConnectionRefused",
  "BrokenPipe",
  "TimedOut",
  "UnexpectedEof",
  "Interrupted",
  // The body arrived damaged (its checksum did not match): sending the same
  // bytes again from memory is the fix, so these 400s are retried.
  "BadDigest",
  "XAmzContentChecksumMismatch",
  "XAmzContentSHA256Mismatch",
  "IncompleteBody",
  "InvalidDigest",
]);

const _TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

const _NETWORK_MESSAGE =
  /socket hang up|ECONNRESET|EPIPE|reset by peer|connection (was )?(closed|reset|aborted|error)|closed before|premature|unexpected end|unexpected eof|timed? ?out|network|broken pipe|error sending request|end of file/i;

/** Tells whether an error from an S3 request, the network or the file system is worth retrying. */
export function classifyError(error: unknown): ErrorClass {
  const e = error as {
    name?: string;
    code?: string | number;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { statusCode?: number; headers?: Record<string, string> };
    $retryable?: unknown;
  } | null;
  if (e === null || typeof e !== "object") {
    return { transient: false, code: String(error) };
  }
  if (error instanceof RemoteError) {
    // Already final: the inner retry loop gave up or it was permanent.
    return {
      transient: false,
      code: error.code,
      status: error.status,
    };
  }
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const code = String(
    e.Code ?? (typeof e.code === "string" ? e.code : "") ??
      "",
  ) ||
    (e.name && e.name !== "Error" ? e.name : "") ||
    (status ? `HTTP${status}` : "Error");
  const retryAfterMs = _retryAfter(e.$response?.headers);
  if (e.name === "AbortError" && !_NETWORK_MESSAGE.test(e.message ?? "")) {
    // Our own cancellation (the caller's signal); never retried.
    return { transient: false, code: "AbortError", status };
  }
  let transient: boolean;
  if (code === "TlsError" || /CERT|TLS/.test(code)) {
    transient = false;
  } else if (_TRANSIENT_CODES.has(code) || _TRANSIENT_CODES.has(e.name ?? "")) {
    transient = true;
  } else if (status !== undefined && status > 0) {
    transient = _TRANSIENT_STATUS.has(status) || status >= 500;
  } else {
    // No response at all: a network fault looks like one of these.
    transient = _NETWORK_MESSAGE.test(`${e.name ?? ""} ${e.message ?? ""}`) ||
      e.$retryable !== undefined;
  }
  return { transient, code, status, retryAfterMs };
}

function _retryAfter(
  headers: Record<string, string> | undefined,
): number | undefined {
  if (!headers) return undefined;
  const v = headers["retry-after"] ?? headers["Retry-After"];
  if (v === undefined) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

const _HINTS: Record<string, string> = {
  AccessDenied:
    "the credentials are not allowed to do this: check the key's permissions and the bucket policy, and that the bucket belongs to this account",
  AllAccessDisabled: "access to this bucket is disabled by its owner",
  NoSuchBucket:
    "the bucket does not exist: create it, or fix the bucket name (and the endpoint/region it lives in)",
  InvalidAccessKeyId:
    "the endpoint does not know this access key id: check the access key, AWS profile or environment, and the endpoint URL",
  SignatureDoesNotMatch:
    "the secret key does not match the access key id: check the secret access key (and the region)",
  InvalidBucketName: "the bucket name is not valid: fix the bucket name",
  AuthorizationHeaderMalformed:
    "the region is wrong for this bucket: set the bucket's region",
  PermanentRedirect:
    "the bucket lives in another region or endpoint: set the right region/endpoint",
  RequestTimeTooSkewed:
    "this machine's clock is too far off: fix the system time (NTP)",
  ExpiredToken: "the session token expired: refresh the credentials",
  InvalidToken: "the session token is not valid: refresh the credentials",
  EntityTooLarge:
    "the object or part is larger than the provider accepts: lower the part size or the maximum object size",
  EntityTooSmall:
    "a part is smaller than the provider's minimum (5 MiB): raise the part size",
  InvalidStorageClass:
    "the provider does not offer this storage class: fix storage_class",
  NoSuchUpload:
    "the multipart upload vanished (aborted by a lifecycle rule or another process?): run again",
  QuotaExceeded: "the bucket or account is over its quota: free space",
  TlsError:
    "the server's TLS certificate is not trusted: give the CA bundle that signed it (caBundle), or turn TLS verification off for a test server",
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the server's certificate is self-signed: give it as the CA bundle (caBundle), or turn TLS verification off for a test server",
  SELF_SIGNED_CERT_IN_CHAIN:
    "the server's certificate chain ends in an unknown CA: give that CA as the CA bundle (caBundle)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server's certificate is signed by an unknown CA: give that CA as the CA bundle (caBundle)",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired: renew it",
  ERR_TLS_CERT_ALTNAME_INVALID:
    "the server's certificate is for another host name: fix the endpoint URL",
  CredentialsProviderError:
    "no credentials found: set access keys, an AWS profile, or the AWS_* environment",
};

/** A one-line explanation of a permanent fault and what to do about it. */
export function explainError(error: unknown, what: string): string {
  const c = classifyError(error);
  const msg = (error as { message?: string })?.message ?? String(error);
  const hint = _HINTS[c.code] ??
    (c.status === 403
      ? _HINTS.AccessDenied
      : c.status === 404
      ? "not found: check the bucket name, key prefix and endpoint"
      : undefined);
  const status = c.status ? ` (HTTP ${c.status})` : "";
  return `${what} failed: ${c.code}${status}: ${msg}${
    hint ? ` — ${hint}` : ""
  }`;
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
 * Permanent faults and exhausted retries throw a {@linkcode RemoteError}.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  const t0 = performance.now();
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      signal?.throwIfAborted();
      const c = classifyError(error);
      if (!c.transient) {
        if (error instanceof RemoteError) throw error;
        throw new RemoteError(
          explainError(error, what),
          c.code,
          c.status,
          false,
          { cause: error },
        );
      }
      const delayMs = backoffDelay(policy, attempt, c.retryAfterMs);
      const spent = performance.now() - t0;
      if (attempt >= policy.attempts || spent + delayMs > policy.budgetMs) {
        throw new RemoteError(
          `${what} failed after ${attempt} attempt${
            attempt > 1 ? "s" : ""
          } in ${(spent / 1000).toFixed(1)} s: ${c.code}${
            c.status ? ` (HTTP ${c.status})` : ""
          }: ${
            (error as Error)?.message ?? error
          } — the store or the network kept failing; check connectivity and try again`,
          c.code,
          c.status,
          true,
          { cause: error },
        );
      }
      policy.onRetry?.({ what, attempt, delayMs, error });
      await _sleep(delayMs, signal);
    }
  }
}

function _sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
