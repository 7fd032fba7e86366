/**
 * Progress reports of uploads and downloads, for the CLI to draw.
 *
 * @module
 */

/** One progress report. */
export interface Progress {
  /** Bytes done so far: acknowledged by the store (upload) or delivered (download). */
  bytes: number;
  /** Milliseconds since the transfer started. */
  elapsedMs: number;
  /** Upload only: bytes read from the producer so far (ahead of `bytes` by the buffered parts). */
  bytesRead?: number;
  /** Set on the last report of a transfer that completed. */
  done?: boolean;
}

/** A progress callback. */
export type ProgressCallback = (progress: Progress) => void;
