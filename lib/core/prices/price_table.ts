/**
 * The shape of a provider's price list, as `simulate --price` reads it. Each
 * provider's figures are plain data in their own file (`aws.ts`, `r2.ts`,
 * `b2.ts`); every figure says where it is from and when it was checked, so a
 * price change is a one-line edit there.
 *
 * @module
 */

/** One published figure in US dollars. */
export interface Figure {
  /** The price. */
  readonly usd: number;
  /** Where it is published and when it was checked. */
  readonly source: string;
}

/** A group of requests billed at one rate (AWS "PUT, COPY, POST, LIST", R2 "Class A", ...). */
export interface RequestClass {
  /** The provider's name for it. */
  readonly title: string;
  /** Price per 1,000 requests. */
  readonly per1000: Figure;
  /** Requests free each month (R2's free tier). */
  readonly freePerMonth?: number;
  /** Requests free each day (B2's daily allowance). */
  readonly freePerDay?: number;
}

/** What storing and reading an object of one storage class costs. */
export interface StorageClassPrices {
  /** Storage per GB-month. */
  readonly perGbMonth: Figure;
  /** GB-months free each month (R2's free tier). */
  readonly freeGbMonths?: number;
  /**
   * Minimum billed duration in days: an object deleted sooner is billed for
   * the rest of it as an early-deletion fee.
   */
  readonly minimumDays?: number;
  /** The request class of PutObject and the multipart requests of objects stored in this class. */
  readonly upload: string;
  /** The request class of GetObject and HeadObject of objects in this class. */
  readonly read: string;
  /** Retrieval fee per GB read (infrequent-access and archive classes). */
  readonly retrievalPerGb?: Figure;
  /** Price per 1,000 retrieval requests (archive classes: one per object). */
  readonly retrievalPer1000?: Figure;
  /** How long a retrieval takes before the object can be read, for archive classes. */
  readonly retrievalWait?: { readonly hours: number; readonly text: string };
}

/** A provider's price list. */
export interface PriceTable {
  /** The name `--price` takes: `aws`, `r2`, `b2`. */
  readonly id: string;
  /** Provider and region, for the report. */
  readonly title: string;
  /** Where the figures are published and when they were checked. */
  readonly source: string;
  /** Bytes in the price list's "GB". */
  readonly gigabyte: number;
  /** The storage class objects get when none is chosen. */
  readonly defaultStorageClass: string;
  /** Storage classes by the name S3 requests use (`STANDARD`, `STANDARD_IA`, ...). */
  readonly storageClasses: Readonly<Record<string, StorageClassPrices>>;
  /** Request classes by name (the keys `upload`, `read`, `list` and `delete` refer to). */
  readonly requestClasses: Readonly<Record<string, RequestClass>>;
  /** The request class of ListObjectsV2. */
  readonly list: string;
  /** The request class of DeleteObjects; null when deleting is free. */
  readonly delete: string | null;
  /** Data transfer out to the internet. */
  readonly egress: {
    /** Price per GB. */
    readonly perGb: Figure;
    /** Transfer free each month as a multiple of the average bytes stored (B2: 3). */
    readonly freeTimesStored?: number;
  };
  /** Facts of the price list the estimate does not model, shown with it. */
  readonly notes: readonly string[];
}

/**
 * What a provider's file writes: its table without `source`, which every
 * figure shares, and with `defaultStorageClass` `STANDARD` unless it says.
 */
export type PriceTableInput =
  & Omit<PriceTable, "source" | "defaultStorageClass">
  & { readonly defaultStorageClass?: string };

/**
 * A price table whose figures all come from `source`.
 *
 * @param source Where the figures are published and when they were checked.
 * @param build The table, given `usd` to write a figure of that source.
 * @returns The table.
 */
export function definePriceTable(
  source: string,
  build: (usd: (price: number) => Figure) => PriceTableInput,
): PriceTable {
  const { id, title, gigabyte, defaultStorageClass = "STANDARD", ...rest } =
    build((usd) => ({ usd, source }));
  // The fields in the order of PriceTable, as the tables always listed them.
  return { id, title, source, gigabyte, defaultStorageClass, ...rest };
}
