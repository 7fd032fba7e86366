/**
 * Fast time-zone arithmetic for one IANA zone: offsets by binary search over
 * cached constant-offset segments, so planning 100k items costs a few
 * Temporal calls per DST period instead of several per item.
 *
 * @module
 */

const _DAY_MS = 86_400_000;

/** One stretch of time with a constant UTC offset: `[start, end)` in epoch ms. */
interface _Segment {
  start: number;
  end: number;
  offsetMs: number;
}

/** Calendar fields of a wall-clock time. */
export interface WallFields {
  /** Proleptic Gregorian year. */
  year: number;
  /** 1-12. */
  month: number;
  /** 1-31. */
  day: number;
  /** 0-23. */
  hour: number;
  /** 0-59. */
  minute: number;
  /** 0-59. */
  second: number;
  /** 0-999. */
  millisecond: number;
  /** Days since 1970-01-01 of the wall-clock date. */
  epochDay: number;
  /** ISO weekday, Monday = 1 … Sunday = 7. */
  isoWeekday: number;
}

/**
 * What is wrong with a time zone name, or null for a usable IANA zone. The
 * one check of time zone names: config validation, the simulate flag and
 * {@linkcode Zone.get} all use it. A UTC offset such as `+02:00` is refused:
 * Temporal would accept it, but it has no DST, so policy intervals would
 * drift from local midnight twice a year.
 *
 * @param timeZone The name to check.
 * @returns One sentence naming the problem and the fix, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timeZoneProblem } from "./zone.ts";
 * assert.equal(timeZoneProblem("Europe/Berlin"), null);
 * assert.match(timeZoneProblem("Mars/Olympus")!, /^unknown time zone "Mars\/Olympus"/);
 * assert.match(timeZoneProblem("+02:00")!, /is a UTC offset/);
 * ```
 */
export function timeZoneProblem(timeZone: string): string | null {
  const fix =
    `use an IANA zone name such as "Europe/Berlin", "America/Los_Angeles" or "UTC"`;
  if (timeZone === "") return `must not be empty; ${fix}`;
  if (/^[+-]/.test(timeZone)) {
    return `${
      JSON.stringify(timeZone)
    } is a UTC offset, not an IANA zone; ${fix}`;
  }
  try {
    Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(timeZone);
  } catch {
    return `unknown time zone ${JSON.stringify(timeZone)}; ${fix}`;
  }
  return null;
}

/** Cached offsets and day starts of one IANA time zone. */
export class Zone {
  /** The IANA identifier. */
  readonly id: string;
  // Sorted, non-overlapping; filled lazily around the times asked for.
  readonly #segments: _Segment[] = [];
  readonly #dayStarts = new Map<number, number>();

  private constructor(id: string) {
    this.id = id;
  }

  static readonly #cache = new Map<string, Zone>();

  /**
   * The shared Zone for an IANA name.
   * @throws {RangeError} with the message of {@linkcode timeZoneProblem} for a name that is not an IANA zone.
   */
  static get(timeZone: string): Zone {
    let zone = Zone.#cache.get(timeZone);
    if (zone === undefined) {
      const problem = timeZoneProblem(timeZone);
      if (problem !== null) throw new RangeError(problem);
      zone = new Zone(timeZone);
      Zone.#cache.set(timeZone, zone);
    }
    return zone;
  }

  /** The constant-offset segment containing `ms`. */
  #segment(ms: number): _Segment {
    const segs = this.#segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = segs[mid];
      if (ms < s.start) hi = mid - 1;
      else if (ms >= s.end) lo = mid + 1;
      else return s;
    }
    const seg = this.#computeSegment(ms);
    segs.splice(lo, 0, seg);
    return seg;
  }

  #computeSegment(ms: number): _Segment {
    const zdt = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(
      this.id,
    );
    // Transitions are at whole seconds, so "previous from ms+1" is the last one at or before ms.
    const prev = Temporal.Instant.fromEpochMilliseconds(ms + 1)
      .toZonedDateTimeISO(this.id).getTimeZoneTransition("previous");
    const next = zdt.getTimeZoneTransition("next");
    return {
      start: prev === null ? -Infinity : prev.epochMilliseconds,
      end: next === null ? Infinity : next.epochMilliseconds,
      offsetMs: Math.round(zdt.offsetNanoseconds / 1e6),
    };
  }

  /** UTC offset in ms at the instant `ms`. */
  offsetAt(ms: number): number {
    return this.#segment(ms).offsetMs;
  }

  /** Start and end (epoch ms) of the constant-offset stretch containing `ms`. */
  segmentAt(ms: number): { start: number; end: number; offsetMs: number } {
    return this.#segment(ms);
  }

  /** Wall-clock fields of the instant `ms`. */
  wall(ms: number): WallFields {
    return wallFromLocalMs(ms + this.offsetAt(ms));
  }

  /**
   * First instant (epoch ms) of the wall-clock date `epochDay`; where midnight
   * does not exist, the instant of the transition.
   */
  startOfDay(epochDay: number): number {
    let ms = this.#dayStarts.get(epochDay);
    if (ms === undefined) {
      const { year, month, day } = wallFromLocalMs(epochDay * _DAY_MS);
      ms = new Temporal.PlainDate(year, month, day).toZonedDateTime({
        timeZone: this.id,
      }).epochMilliseconds;
      this.#dayStarts.set(epochDay, ms);
    }
    return ms;
  }

  /**
   * ISO-8601 with whole seconds (truncated) and the numeric offset, e.g.
   * `2024-04-30T18:00:00-07:00`, `+00:00` for UTC; offsets with seconds (old
   * local mean times) keep them so the string parses back to the same second.
   */
  formatIso(ms: number): string {
    const sec = Math.floor(ms / 1000) * 1000;
    let text = this.#iso.get(sec);
    if (text === undefined) {
      // Bounded: a daemon formats the same few hundred snapshot times on every run.
      if (this.#iso.size >= 100_000) this.#iso.clear();
      text = this.#formatIso(sec);
      this.#iso.set(sec, text);
    }
    return text;
  }

  readonly #iso = new Map<number, string>();

  #formatIso(sec: number): string {
    const off = this.offsetAt(sec);
    const w = wallFromLocalMs(sec + off);
    return `${_pad(w.year, 4)}-${_pad(w.month, 2)}-${_pad(w.day, 2)}T${
      _pad(w.hour, 2)
    }:${_pad(w.minute, 2)}:${_pad(w.second, 2)}${formatOffset(off)}`;
  }
}

/** `+HH:MM` (or `+HH:MM:SS` when the offset has seconds) for an offset in ms. */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? "-" : "+";
  const total = Math.round(Math.abs(offsetMs) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${sign}${_pad(h, 2)}:${_pad(m, 2)}${s ? `:${_pad(s, 2)}` : ""}`;
}

function _pad(n: number, width: number): string {
  const s = String(Math.abs(n)).padStart(width, "0");
  return n < 0 ? `-${s}` : s;
}

/** Calendar fields of a "local epoch ms" (wall clock read as if it were UTC). */
export function wallFromLocalMs(localMs: number): WallFields {
  const epochDay = Math.floor(localMs / _DAY_MS);
  let rem = localMs - epochDay * _DAY_MS;
  const hour = Math.floor(rem / 3_600_000);
  rem -= hour * 3_600_000;
  const minute = Math.floor(rem / 60_000);
  rem -= minute * 60_000;
  const second = Math.floor(rem / 1000);
  const millisecond = rem - second * 1000;
  const { year, month, day } = civilFromDays(epochDay);
  const isoWeekday = (((epochDay + 3) % 7) + 7) % 7 + 1; // 1970-01-01 was a Thursday
  return {
    year,
    month,
    day,
    hour,
    minute,
    second,
    millisecond,
    epochDay,
    isoWeekday,
  };
}

/** Proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's algorithm). */
export function civilFromDays(
  days: number,
): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

/** Day count since 1970-01-01 of a proleptic Gregorian date (months may overflow). */
export function daysFromCivil(
  year: number,
  month: number,
  day: number,
): number {
  // Normalise month overflow so callers can step months arithmetically.
  const y0 = year + Math.floor((month - 1) / 12);
  const m0 = ((month - 1) % 12 + 12) % 12 + 1;
  const y = m0 <= 2 ? y0 - 1 : y0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = m0 > 2 ? m0 - 3 : m0 + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * ISO-8601 with whole seconds and the zone's numeric offset, as btrfs2s3
 * writes `.ctim` and snapshot names: `2024-04-30T18:00:00-07:00`, and
 * `+00:00` for UTC.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIsoSeconds } from "./zone.ts";
 * const t = Temporal.Instant.from("2024-05-01T01:00:00.5Z");
 * assert.ok(formatIsoSeconds(t, "America/Los_Angeles") === "2024-04-30T18:00:00-07:00");
 * ```
 */
export function formatIsoSeconds(
  instant: Temporal.Instant,
  timeZone: string,
): string {
  return Zone.get(timeZone).formatIso(instant.epochMilliseconds);
}
