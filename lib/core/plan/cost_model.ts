/**
 * The shapes of a cost estimate: how the transfer manager turns bytes into
 * requests, the options of an estimate, and its lines (storage, requests,
 * early deletion, restore).
 *
 * @module
 */

import type { PriceTable } from "../prices/price_table.ts";
import type { Unit } from "../policy/vocabulary.ts";

/** How big backups are. */
export interface SizeModel {
  /** Bytes of the source (a full backup, before compression). */
  sourceBytes: number;
  /** Bytes changed per day. */
  changeBytesPerDay: number;
  /** Compression ratio of the pipe (2 halves every backup); 1 for none. */
  compression: number;
}

/** Requests of one upload, as the transfer manager makes them. */
export interface UploadRequests {
  /** Bytes of each object. */
  objects: number[];
  /** Objects sent with one PutObject. */
  puts: number;
  /** Multipart requests: per object, create + parts + complete. */
  multipartRequests: number;
}

/** How the transfer manager turns bytes into requests. */
export interface TransferModel {
  /** The requests of uploading `bytes`. */
  upload(bytes: number): UploadRequests;
  /** Ranged GETs reading objects of these sizes. */
  rangedGets(objects: readonly number[]): number;
  /** Keys per ListObjectsV2 page. */
  listPageSize: number;
  /** One sentence on part sizes, for the assumptions. */
  describe: string;
}

/** Request kinds the estimate counts. */
export type RequestKind =
  | "PUT"
  | "multipart"
  | "LIST"
  | "HEAD"
  | "GET"
  | "DELETE"
  | "RESTORE";

/** The stretch of the simulation the monthly figures average over. */
export interface CostWindow {
  /** Start; runs at this instant count only when `includeStart`. */
  start: Temporal.Instant;
  /** End (the simulation's `--end`), inclusive. */
  end: Temporal.Instant;
  /** Whether a run at `start` counts (the window is the whole simulation). */
  includeStart: boolean;
}

/** Options of {@linkcode estimateCost}. */
export interface CostOptions {
  /** The provider's price list. */
  prices: PriceTable;
  /** How big backups are. */
  size: SizeModel;
  /** How bytes become requests. */
  transfer: TransferModel;
  /** The class of objects no `storageClasses` entry names (default: the price list's default). */
  storageClass?: string;
  /** The class of a backup by the coarsest interval it is uploaded for. */
  storageClasses?: Partial<Record<Unit, string>>;
  /** The stretch averaged over. */
  window: CostWindow;
  /** Assumed download rate of a restore, bytes per second. */
  restoreBytesPerSecond: number;
}

/** Requests of one kind billed in one request class. */
export interface RequestLine {
  /** What the requests are. */
  kind: RequestKind;
  /** The price list's request class (a key of its `requestClasses`, or `retrieval` for archive retrieval requests). */
  requestClass: string;
  /** How many (per month, for the monthly estimate). */
  count: number;
}

/** The cost of one request class. */
export interface RequestClassCost {
  /** The price list's request class. */
  requestClass: string;
  /** The provider's name for it. */
  title: string;
  /** Requests in it. */
  count: number;
  /** Of which free (allowances). */
  free: number;
  /** Dollars. */
  usd: number;
}

/** Bytes stored in one class. */
export interface StorageLine {
  /** The storage class. */
  storageClass: string;
  /** Average bytes stored over the window. */
  averageBytes: number;
  /** GB-months per month (in the price list's GB). */
  gbMonths: number;
  /** Dollars per month. */
  usd: number;
}

/** Fees for objects deleted before their class's minimum duration. */
export interface EarlyDeletionLine {
  /** The storage class. */
  storageClass: string;
  /** Backups deleted early, per month. */
  backups: number;
  /** Dollars per month. */
  usd: number;
}

/** The cost of restoring the newest snapshot. */
export interface RestoreCost {
  /** The snapshot's ctime. */
  ctime: Temporal.Instant;
  /** Backups in its chain (full first). */
  backups: number;
  /** Bytes downloaded. */
  bytes: number;
  /** Requests by kind. */
  requests: RequestLine[];
  /** Dollars for the transfer out. */
  egressUsd: number;
  /** Dollars for the requests (beyond the month's free allowances). */
  requestsUsd: number;
  /** Dollars for retrieval from infrequent-access and archive classes. */
  retrievalUsd: number;
  /** All of it. */
  totalUsd: number;
  /** Download time at the assumed rate. */
  downloadSeconds: number;
  /** Wait for archive retrieval before the download can start, hours (0 when none). */
  retrievalWaitHours: number;
  /** The wait as the provider states it, when there is one. */
  retrievalWait?: string;
  /** The assumed rate, bytes per second. */
  bytesPerSecond: number;
}

/** The estimate. */
export interface CostEstimate {
  /** The price list's id. */
  provider: string;
  /** Provider and region. */
  title: string;
  /** Where the prices are from, and when they were checked. */
  source: string;
  /** The window averaged over. */
  window: CostWindow & { days: number };
  /** Bytes of a full backup (after compression). */
  fullBytes: number;
  /** Average bytes stored, per class. */
  storage: StorageLine[];
  /** Requests per month by kind and class. */
  requests: RequestLine[];
  /** Cost per request class per month. */
  requestClasses: RequestClassCost[];
  /** Early-deletion fees per month. */
  earlyDeletion: EarlyDeletionLine[];
  /** Egress per month (none in steady state: nothing is read). */
  egressUsd: number;
  /** Dollars per month: storage + requests + early deletion. */
  monthlyUsd: number;
  /** Restoring the newest snapshot at the end. */
  restore: RestoreCost | null;
  /** The costliest restore of the newest snapshot after any run in the window (its longest chain in bytes). */
  worstRestore: RestoreCost | null;
  /** Everything the figures assume, one sentence each. */
  assumptions: string[];
}
