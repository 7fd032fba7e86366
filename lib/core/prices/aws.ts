/**
 * Amazon S3 list prices, US East (N. Virginia), first pricing tier. Plain
 * data: update a figure and its `source` together.
 *
 * @module
 */

import { definePriceTable, type PriceTable } from "./price_table.ts";

/** Amazon S3, us-east-1. */
export const AWS_PRICES: PriceTable = definePriceTable(
  "Amazon S3 pricing page, US East (N. Virginia); as published, checked 2026",
  (usd) => ({
    id: "aws",
    title: "Amazon S3, us-east-1",
    gigabyte: 2 ** 30,
    storageClasses: {
      STANDARD: {
        perGbMonth: usd(0.023),
        upload: "put-standard",
        read: "get-standard",
      },
      STANDARD_IA: {
        perGbMonth: usd(0.0125),
        minimumDays: 30,
        upload: "put-ia",
        read: "get-ia",
        retrievalPerGb: usd(0.01),
      },
      GLACIER_IR: {
        perGbMonth: usd(0.004),
        minimumDays: 90,
        upload: "put-glacier-ir",
        read: "get-glacier-ir",
        retrievalPerGb: usd(0.03),
      },
      GLACIER: {
        perGbMonth: usd(0.0036),
        minimumDays: 90,
        upload: "put-glacier",
        read: "get-standard",
        retrievalPerGb: usd(0.01),
        retrievalPer1000: usd(0.05),
        retrievalWait: { hours: 5, text: "3-5 hours (Standard retrieval)" },
      },
      DEEP_ARCHIVE: {
        perGbMonth: usd(0.00099),
        minimumDays: 180,
        upload: "put-deep-archive",
        read: "get-standard",
        retrievalPerGb: usd(0.02),
        retrievalPer1000: usd(0.10),
        retrievalWait: {
          hours: 12,
          text: "up to 12 hours (Standard retrieval)",
        },
      },
    },
    requestClasses: {
      "put-standard": {
        title: "PUT, COPY, POST, LIST (S3 Standard)",
        per1000: usd(0.005),
      },
      "get-standard": {
        title: "GET, SELECT and all other requests (S3 Standard)",
        per1000: usd(0.0004),
      },
      "put-ia": {
        title: "PUT, COPY, POST, LIST (S3 Standard-IA)",
        per1000: usd(0.01),
      },
      "get-ia": {
        title: "GET, SELECT and all other requests (S3 Standard-IA)",
        per1000: usd(0.001),
      },
      "put-glacier-ir": {
        title: "PUT, COPY, POST, LIST (S3 Glacier Instant Retrieval)",
        per1000: usd(0.02),
      },
      "get-glacier-ir": {
        title:
          "GET, SELECT and all other requests (S3 Glacier Instant Retrieval)",
        per1000: usd(0.01),
      },
      "put-glacier": {
        title: "PUT, COPY, POST, LIST (S3 Glacier Flexible Retrieval)",
        per1000: usd(0.03),
      },
      "put-deep-archive": {
        title: "PUT, COPY, POST, LIST (S3 Glacier Deep Archive)",
        per1000: usd(0.05),
      },
    },
    list: "put-standard",
    delete: null, // DELETE and CANCEL requests are free
    egress: { perGb: usd(0.09) },
    notes: [
      "a GB is 2^30 bytes",
      "egress is the first 10 TB/month tier; the 100 GB/month AWS gives free across services is not subtracted",
      "GLACIER and DEEP_ARCHIVE add 40 KB of billed overhead per object, STANDARD_IA bills objects under 128 KB as 128 KB (not modelled: backups are large)",
    ],
  }),
);
