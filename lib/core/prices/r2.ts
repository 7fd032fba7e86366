/**
 * Cloudflare R2 list prices. Plain data: update a figure and its `source`
 * together.
 *
 * @module
 */

import { definePriceTable, type PriceTable } from "./price_table.ts";

/** Cloudflare R2. */
export const R2_PRICES: PriceTable = definePriceTable(
  "Cloudflare R2 pricing page (developer documentation); as published, checked 2026",
  (usd) => ({
    id: "r2",
    title: "Cloudflare R2",
    // The page does not say; decimal gives the larger (safer) estimate.
    gigabyte: 1e9,
    storageClasses: {
      STANDARD: {
        perGbMonth: usd(0.015),
        freeGbMonths: 10,
        upload: "class-a",
        read: "class-b",
      },
      STANDARD_IA: {
        perGbMonth: usd(0.01),
        minimumDays: 30,
        upload: "class-a-ia",
        read: "class-b-ia",
        retrievalPerGb: usd(0.01),
      },
    },
    requestClasses: {
      // ListObjects is Class A on R2: every update's listing is billed at the write rate.
      "class-a": {
        title: "Class A (PUT, multipart, LIST)",
        per1000: usd(0.0045),
        freePerMonth: 1_000_000,
      },
      "class-b": {
        title: "Class B (GET, HEAD)",
        per1000: usd(0.00036),
        freePerMonth: 10_000_000,
      },
      "class-a-ia": {
        title: "Class A, Infrequent Access",
        per1000: usd(0.009),
      },
      "class-b-ia": {
        title: "Class B, Infrequent Access",
        per1000: usd(0.0009),
      },
    },
    list: "class-a",
    delete: null, // DeleteObject is a free operation
    egress: { perGb: usd(0) },
    notes: [
      "the free tier (10 GB-month, 1 million Class A, 10 million Class B per month) applies to Standard storage only and is subtracted",
      "Cloudflare rounds usage up to whole billing units (a million requests, a GB-month); the estimate does not",
      "a GB is taken as 10^9 bytes (the page does not say)",
    ],
  }),
);
