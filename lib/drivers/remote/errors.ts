/**
 * The remote's error model: {@linkcode RemoteError},
 * {@linkcode NotFoundError}, {@linkcode UnmarkedRemoteError}, and {@linkcode classifyError}, which reads the
 * shapes of AWS SDK, network and file-system errors to tell transient faults
 * (timeouts, resets, 500, 502, 503 SlowDown, 429, RequestTimeout) from
 * permanent ones, and {@linkcode explainError}, which says what to fix.
 *
 * @module
 */

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

/** What {@linkcode RemoteError} is told besides its message. */
export interface RemoteErrorOptions {
  /** HTTP status, when the store answered. */
  status?: number;
  /** True when retries ran out on faults worth retrying; false for permanent faults. */
  transient: boolean;
  /** S3 error code, errno code or error name (default `RemoteError`). */
  code?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A request to an object store failed for good: the store refused it
 * (`transient` false: the message says what to fix), or it kept failing
 * until the retry policy gave up (`transient` true: try again later).
 * `cause` holds the last underlying error.
 */
export class RemoteError extends Error {
  /** S3 error code, errno code or error name. */
  readonly code: string;
  /** HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** Whether the fault was worth retrying (and retries ran out). */
  readonly transient: boolean;

  /** An error described by `message`; see {@linkcode RemoteErrorOptions}. */
  constructor(message: string, options: RemoteErrorOptions) {
    super(message, { cause: options.cause });
    this.name = "RemoteError";
    this.code = options.code ?? "RemoteError";
    this.status = options.status;
    this.transient = options.transient;
  }
}

/** Thrown when a key does not exist. */
export class NotFoundError extends Error {
  /** The key that was asked for, relative to the remote's prefix. */
  readonly key: string;

  /** `where` names the remote in the message. */
  constructor(key: string, where: string) {
    super(`no object ${JSON.stringify(key)} in ${where}`);
    this.name = "NotFoundError";
    this.key = key;
  }
}

/**
 * A local-directory remote without its marker file while a source that
 * uploads to it already has snapshots: most likely the disk is not mounted
 * and the directory is its empty mount point. The run is refused before
 * anything is written (the command line exits 2); `--init-remote` (update's
 * `initRemote`) marks a directory that is new for the remote.
 */
export class UnmarkedRemoteError extends Error {
  /** The remote's id. */
  readonly remote: string;
  /** Where the marker was looked for. */
  readonly markerPath: string;

  /** `source` is the source that already has snapshots. */
  constructor(remote: string, markerPath: string, source: string) {
    const dir = markerPath.slice(0, markerPath.lastIndexOf("/")) || "/";
    super(
      `remote ${remote}: ${dir} has no snap2s3 marker (${
        markerPath.slice(dir.length + 1)
      }) although ${source} already has snapshots: is the disk mounted? Mount it and run again, or, if this directory is new for the remote, run again with --init-remote`,
    );
    this.name = "UnmarkedRemoteError";
    this.remote = remote;
    this.markerPath = markerPath;
  }
}

/**
 * A network fault raised by our fetch request handler: `NetworkError` and `TimeoutError`
 * are retried, `TlsError` (an untrusted certificate) is not.
 */
export class NetworkError extends Error {
  /** `TimeoutError`, `NetworkError` or `TlsError`. */
  readonly code: string;
  /** A network fault; `code` tells timeouts apart. */
  constructor(message: string, code = "NetworkError", options?: ErrorOptions) {
    super(message, options);
    this.name = code === "NetworkError" ? "NetworkError" : code;
    this.code = code;
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
  // Some servers send no message: the SDK then says only "UnknownError".
  const said = msg === "" || msg === "UnknownError" || msg === c.code
    ? ""
    : `: ${msg}`;
  return `${what} failed: ${c.code}${status}${said}${hint ? ` — ${hint}` : ""}`;
}

/**
 * Codes of permanent faults that only a change to the remote's settings or
 * credentials cures (bad input: running again will not help).
 */
export const SETTINGS_FAULTS: ReadonlySet<string> = new Set([
  "NoSuchBucket",
  "InvalidBucketName",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AuthorizationHeaderMalformed",
  "PermanentRedirect",
  "CredentialsProviderError",
]);
