/**
 * What a remote needs to keep to a bandwidth limit: something that hands out
 * bytes at a rate (a token bucket, lib/drivers/transfer/bandwidth.ts). The S3
 * remote asks it before every chunk of a request body it sends and every
 * chunk of a response body it reads, so the limit holds inside one part, not
 * only between parts.
 *
 * @module
 */

/** Hands out bytes at a rate. */
export interface Pacer {
  /** The rate, bytes per second. */
  readonly bytesPerSecond: number;
  /** Most bytes handed out at once after a pause. */
  readonly burst: number;
  /** Resolves when `bytes` may be sent (or were received); rejects when `signal` aborts. */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

/** A remote's limits, one per direction. */
export interface Pacers {
  /** Bytes sent to the remote. */
  upload?: Pacer;
  /** Bytes read from the remote. */
  download?: Pacer;
}
