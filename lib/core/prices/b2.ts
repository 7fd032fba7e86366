/**
 * Backblaze B2 list prices (pay as you go). Plain data: update a figure and
 * its `source` together.
 *
 * @module
 */

import { definePriceTable, type PriceTable } from "./price_table.ts";

/** Backblaze B2. */
export const B2_PRICES: PriceTable = definePriceTable(
  "Backblaze B2 cloud storage pricing and transaction pricing pages; as published, checked 2026",
  (usd) => ({
    id: "b2",
    title: "Backblaze B2 (pay as you go)",
    gigabyte: 1e9,
    storageClasses: {
      STANDARD: {
        perGbMonth: usd(0.006), // $6 per TB-month
        upload: "class-a",
        read: "class-b",
      },
    },
    requestClasses: {
      "class-a": {
        title: "Class A (uploads, deletes: free)",
        per1000: usd(0),
      },
      "class-b": {
        title: "Class B (GetObject, HeadObject)",
        per1000: usd(0.0004), // $0.004 per 10,000
        freePerDay: 2_500,
      },
      "class-c": {
        title: "Class C (ListObjectsV2)",
        per1000: usd(0.004),
        freePerDay: 2_500,
      },
    },
    list: "class-c",
    delete: "class-a",
    egress: { perGb: usd(0.01), freeTimesStored: 3 },
    notes: [
      "a GB is 10^9 bytes ($6 per TB-month)",
      "egress is free up to 3 times the average data stored in the month, then $0.01/GB",
      "the daily free allowance (2,500 Class B and 2,500 Class C calls) is applied to the average day",
    ],
  }),
);
