/**
 * Durations given on the command line (`--max-age`, `--every`, `--relist`).
 *
 * @module
 */

const _SECOND = 1000;
const _MINUTE = 60 * _SECOND;
const _HOUR = 60 * _MINUTE;
const _DAY = 24 * _HOUR;

const _SHORT: Readonly<Record<string, number>> = {
  ms: 1,
  s: _SECOND,
  m: _MINUTE,
  h: _HOUR,
  d: _DAY,
  w: 7 * _DAY,
};

/** The accepted forms, quoted in every error. */
export const DURATION_FORMS =
  'a number with a unit (ms, s, m = minutes, h, d, w), combined like "1h30m", or ISO-8601 like PT6H';

/**
 * Parses a duration: `90s`, `15m` (minutes), `2h`, `1d`, `1w`, `1h30m`,
 * `500ms`, or an ISO-8601 duration of fixed length (`PT6H`, `P1D`, where a
 * day is 24 hours).
 *
 * @param text What the user wrote.
 * @returns Milliseconds, above 0.
 * @throws {RangeError} Naming the accepted forms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./duration.ts";
 * assert.equal(parseDuration("1h30m"), 90 * 60_000);
 * assert.equal(parseDuration("PT6H"), 6 * 3_600_000);
 * ```
 */
export function parseDuration(text: string): number {
  const bad = (why: string): never => {
    throw new RangeError(
      `${
        JSON.stringify(text)
      } is not a duration (${why}); use ${DURATION_FORMS}`,
    );
  };
  let ms = 0;
  if (/^P/i.test(text)) {
    let d: Temporal.Duration;
    try {
      d = Temporal.Duration.from(text);
    } catch {
      return bad("not ISO-8601");
    }
    if (d.years || d.months || d.weeks) {
      bad(
        "years, months and weeks have no fixed length here: write them as days, e.g. P14D",
      );
    }
    ms = d.total({ unit: "milliseconds" });
  } else {
    const parts = text.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d|w)/g);
    if (!parts || parts.join("") !== text) {
      bad(text === "" ? "empty" : "unknown form");
    }
    for (const p of parts!) {
      const [, n, unit] = p.match(/^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/)!;
      ms += Number(n) * _SHORT[unit];
    }
  }
  if (!(ms > 0)) bad("must be above zero");
  return Math.round(ms);
}

/**
 * Formats milliseconds the way {@linkcode parseDuration} reads them back:
 * `1h30m`, `3s`, `250ms`.
 *
 * @param ms A duration in ms.
 * @returns The shortest exact form, largest unit first.
 */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let left = Math.round(ms);
  let out = "";
  for (
    const [unit, size] of [["d", _DAY], ["h", _HOUR], ["m", _MINUTE], [
      "s",
      _SECOND,
    ]] as const
  ) {
    if (left >= size) {
      out += `${Math.floor(left / size)}${unit}`;
      left %= size;
    }
  }
  if (left) out += `${left}ms`;
  return out;
}
