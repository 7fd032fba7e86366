/**
 * Policy intervals in one IANA time zone (POLICY.md "Intervals").
 *
 * Years, quarters, months, weeks (from Monday) and days run from wall-clock
 * midnight to the next one, so DST days are 23 or 25 hours. Hours, minutes
 * and seconds are real hours (minutes, seconds) aligned to the wall clock and
 * cut at offset transitions, so the repeated hour at fall-back is two
 * intervals [differs from btrfs2s3].
 *
 * All instants are epoch milliseconds; intervals are half-open `[start, end)`.
 *
 * @module
 */

import { type Unit, UNIT_ADJECTIVES } from "./grammar.ts";
import {
  civilFromDays,
  daysFromCivil,
  formatOffset,
  type WallFields,
  wallFromLocalMs,
  Zone,
} from "../zone.ts";

/** A half-open interval `[start, end)` of one unit, in epoch ms. */
export interface Interval {
  /** The unit it is an interval of. */
  unit: Unit;
  /** First instant, epoch ms (inclusive). */
  start: number;
  /** Next interval's start, epoch ms (exclusive). */
  end: number;
}

const _FIXED_MS: Partial<Record<Unit, number>> = {
  h: 3_600_000,
  M: 60_000,
  s: 1000,
};

// Beyond ±100,000 years Temporal cannot represent the date: treat as unbounded.
const _MIN_DAY = -36_500_000;

/** Interval arithmetic in one time zone, with boundaries cached per (unit, start). */
export class IntervalCalendar {
  /** The zone all wall-clock arithmetic happens in. */
  readonly zone: Zone;
  // Calendar units: start epoch-day of the interval → its [start, end) in epoch ms.
  readonly #byStartDay: Record<string, Map<number, Interval>> = {};

  static readonly #shared = new Map<string, IntervalCalendar>();

  /** The shared calendar of a zone, whose caches outlive one plan. */
  static get(timeZone: string): IntervalCalendar {
    let cal = IntervalCalendar.#shared.get(timeZone);
    if (cal === undefined) {
      cal = new IntervalCalendar(timeZone);
      IntervalCalendar.#shared.set(timeZone, cal);
    }
    return cal;
  }

  /** Calendar of an IANA zone; throws a RangeError naming an unknown zone. */
  constructor(timeZone: string) {
    this.zone = Zone.get(timeZone);
    for (const u of ["y", "q", "m", "w", "d"]) {
      this.#byStartDay[u] = new Map();
    }
  }

  /** The interval of `unit` that contains the instant `ms`. */
  containing(unit: Unit, ms: number): Interval {
    const seg = this.zone.segmentAt(ms);
    return this.#containing(unit, ms, seg, null);
  }

  #containing(
    unit: Unit,
    ms: number,
    seg: { start: number; end: number; offsetMs: number },
    wall: WallFields | null,
  ): Interval {
    const fixed = _FIXED_MS[unit];
    if (fixed !== undefined) {
      const aligned = Math.floor((ms + seg.offsetMs) / fixed) * fixed -
        seg.offsetMs;
      return {
        unit,
        start: Math.max(aligned, seg.start),
        end: Math.min(aligned + fixed, seg.end),
      };
    }
    let day = _calendarStartDay(
      unit,
      wall ?? wallFromLocalMs(ms + seg.offsetMs),
    );
    // A wall date can disagree with the tiling only where a transition crosses midnight backwards.
    for (;;) {
      const iv = this.#calendarInterval(unit, day);
      if (ms < iv.start) day = _stepDay(unit, day, -1);
      else if (ms >= iv.end) day = _stepDay(unit, day, 1);
      else return iv;
    }
  }

  #calendarInterval(unit: Unit, startDay: number): Interval {
    const cache = this.#byStartDay[unit];
    let iv = cache.get(startDay);
    if (iv === undefined) {
      iv = {
        unit,
        start: this.zone.startOfDay(startDay),
        end: this.zone.startOfDay(_stepDay(unit, startDay, 1)),
      };
      cache.set(startDay, iv);
    }
    return iv;
  }

  /**
   * Start of the interval `n` intervals before the one starting at `start`
   * (n = 0 returns `start`); `-Infinity` when that is before any representable date.
   */
  back(unit: Unit, start: number, n: number): number {
    if (n <= 0) return start;
    const fixed = _FIXED_MS[unit];
    if (fixed === undefined) {
      const day = _calendarStartDay(unit, this.zone.wall(start));
      const target = _stepDay(unit, day, -n);
      if (!(target >= _MIN_DAY)) return -Infinity;
      return this.#calendarInterval(unit, target).start;
    }
    // Walk whole constant-offset segments at once: inside one, starts are aligned points.
    let s = start;
    let remaining = n;
    for (;;) {
      const seg = this.zone.segmentAt(s - 1);
      const off = seg.offsetMs;
      const kMax = Math.ceil((s + off) / fixed) - 1;
      const kMin = seg.start === -Infinity
        ? -Infinity
        : Math.floor((seg.start + off) / fixed) + 1;
      const aligned = Math.max(0, kMax - kMin + 1);
      if (remaining <= aligned) return (kMax - remaining + 1) * fixed - off;
      remaining -= aligned + 1;
      s = seg.start;
      if (remaining === 0) return s;
    }
  }

  /** Start of the interval right after the one starting at `start`. */
  next(unit: Unit, start: number): number {
    return this.containing(unit, start).end;
  }

  /**
   * Human label of the interval of `unit` starting at `start`:
   * `2024`, `2024-Q1`, `2024-03`, `2024-W11`, `2024-03-15`, `2024-03-15 14:00`,
   * `2024-03-15 14:05`, `2024-03-15 14:05:09`; wall times that occur twice
   * (fall-back) carry their offset.
   */
  label(unit: Unit, start: number): string {
    let labels = this.#labels[unit];
    if (labels === undefined) labels = this.#labels[unit] = new Map();
    let label = labels.get(start);
    if (label === undefined) {
      if (labels.size >= 100_000) labels.clear();
      label = this.#label(unit, start);
      labels.set(start, label);
    }
    return label;
  }

  // Labels are asked for again on every plan of a long-running process: keep them.
  readonly #labels: Partial<Record<Unit, Map<number, string>>> = {};

  #label(unit: Unit, start: number): string {
    const w = this.zone.wall(start);
    const date = `${_p4(w.year)}-${_p2(w.month)}-${_p2(w.day)}`;
    switch (unit) {
      case "y":
        return _p4(w.year);
      case "q":
        return `${_p4(w.year)}-Q${Math.floor((w.month - 1) / 3) + 1}`;
      case "m":
        return `${_p4(w.year)}-${_p2(w.month)}`;
      case "w": {
        const { year, week } = _isoWeek(w.epochDay);
        return `${_p4(year)}-W${_p2(week)}`;
      }
      case "d":
        return date;
    }
    const time = unit === "s"
      ? `${_p2(w.hour)}:${_p2(w.minute)}:${_p2(w.second)}`
      : `${_p2(w.hour)}:${_p2(w.minute)}`;
    const repeated = this.#isRepeatedWallTime(start);
    return `${date} ${time}${
      repeated ? formatOffset(this.zone.offsetAt(start)) : ""
    }`;
  }

  /** Interval label with the unit's adjective: "2024 yearly", "2024-03-15 daily". */
  describe(unit: Unit, start: number): string {
    return `${this.label(unit, start)} ${UNIT_ADJECTIVES[unit]}`;
  }

  // True when the wall-clock time of `ms` also names another instant (the repeated hour at fall-back).
  #isRepeatedWallTime(ms: number): boolean {
    const seg = this.zone.segmentAt(ms);
    const local = ms + seg.offsetMs;
    for (const other of [seg.start - 1, seg.end]) {
      if (!Number.isFinite(other)) continue;
      const o = this.zone.segmentAt(other);
      const candidate = local - o.offsetMs;
      if (candidate >= o.start && candidate < o.end) return true;
    }
    return false;
  }
}

function _calendarStartDay(unit: Unit, w: WallFields): number {
  switch (unit) {
    case "y":
      return daysFromCivil(w.year, 1, 1);
    case "q":
      return daysFromCivil(w.year, Math.floor((w.month - 1) / 3) * 3 + 1, 1);
    case "m":
      return daysFromCivil(w.year, w.month, 1);
    case "w":
      return w.epochDay - (w.isoWeekday - 1);
    default:
      return w.epochDay;
  }
}

function _stepDay(unit: Unit, day: number, n: number): number {
  if (unit === "d") return day + n;
  if (unit === "w") return day + 7 * n;
  const { year, month } = civilFromDays(day);
  if (unit === "y") return daysFromCivil(year + n, 1, 1);
  return daysFromCivil(year, month + (unit === "q" ? 3 : 1) * n, 1);
}

function _isoWeek(mondayDay: number): { year: number; week: number } {
  const thursday = mondayDay + 3;
  const year = civilFromDays(thursday).year;
  const week = Math.floor((thursday - daysFromCivil(year, 1, 1)) / 7) + 1;
  return { year, week };
}

function _p2(n: number): string {
  return String(n).padStart(2, "0");
}

function _p4(n: number): string {
  return n < 0 ? `-${String(-n).padStart(4, "0")}` : String(n).padStart(4, "0");
}
