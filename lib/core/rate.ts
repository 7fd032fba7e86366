/**
 * Transfer rates as people write them: `20MiB/s`, `100Mbit/s`, `2.5 MB/s`.
 *
 * @module
 */

const _UNITS: Readonly<Record<string, number>> = {
  "B": 1,
  "kB": 1e3,
  "KB": 1e3,
  "MB": 1e6,
  "GB": 1e9,
  "KiB": 2 ** 10,
  "MiB": 2 ** 20,
  "GiB": 2 ** 30,
  "kbit": 1e3 / 8,
  "Kbit": 1e3 / 8,
  "Mbit": 1e6 / 8,
  "Gbit": 1e9 / 8,
};

/** The accepted form, quoted in every error about a rate. */
export const RATE_FORM =
  "<number><unit>/s with a unit of B, kB, MB, GB, KiB, MiB, GiB, kbit, Mbit or Gbit, e.g. 20MiB/s or 100Mbit/s";

/**
 * Reads a rate.
 *
 * @param text E.g. `20MiB/s`.
 * @returns Bytes per second, or null when `text` is not a positive rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRate } from "./rate.ts";
 * assert.equal(parseRate("20MiB/s"), 20 * 2 ** 20);
 * assert.equal(parseRate("100Mbit/s"), 12_500_000);
 * assert.equal(parseRate("fast"), null);
 * ```
 */
export function parseRate(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\/s\s*$/.exec(text);
  if (!m || !Object.hasOwn(_UNITS, m[2])) return null;
  const v = Number(m[1]) * _UNITS[m[2]];
  return v > 0 && Number.isFinite(v) ? v : null;
}

/** A rate for people, in binary units: `20.0 MiB/s`; 12.5 MB/s is `11.9 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytesPerSecond;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}/s`;
}
