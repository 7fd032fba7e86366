import assert from "node:assert/strict";
import { IntervalCalendar } from "../lib/core/policy/intervals.ts";
import { type Unit, UNITS } from "../lib/core/policy/grammar.ts";
import { formatIsoSeconds } from "../lib/core/zone.ts";

const ms = (iso: string): number =>
  Temporal.Instant.from(iso).epochMilliseconds;
const iso = (t: number): string =>
  Temporal.Instant.fromEpochMilliseconds(t).toString();

function span(cal: IntervalCalendar, unit: Unit, at: string): [string, string] {
  const iv = cal.containing(unit, ms(at));
  return [iso(iv.start), iso(iv.end)];
}

Deno.test("UTC intervals start at Jan 1, quarter, month, Monday, midnight and the hour", () => {
  const cal = new IntervalCalendar("UTC");
  const at = "2024-05-10T14:05:09.5Z"; // a Friday
  assert.deepEqual(span(cal, "y", at), [
    "2024-01-01T00:00:00Z",
    "2025-01-01T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "q", at), [
    "2024-04-01T00:00:00Z",
    "2024-07-01T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "m", at), [
    "2024-05-01T00:00:00Z",
    "2024-06-01T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "w", at), [
    "2024-05-06T00:00:00Z",
    "2024-05-13T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "d", at), [
    "2024-05-10T00:00:00Z",
    "2024-05-11T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "h", at), [
    "2024-05-10T14:00:00Z",
    "2024-05-10T15:00:00Z",
  ]);
  assert.deepEqual(span(cal, "M", at), [
    "2024-05-10T14:05:00Z",
    "2024-05-10T14:06:00Z",
  ]);
  assert.deepEqual(span(cal, "s", at), [
    "2024-05-10T14:05:09Z",
    "2024-05-10T14:05:10Z",
  ]);
});

Deno.test("intervals are half-open: the start belongs, the end does not", () => {
  const cal = new IntervalCalendar("UTC");
  assert.deepEqual(span(cal, "d", "2024-05-10T00:00:00Z"), [
    "2024-05-10T00:00:00Z",
    "2024-05-11T00:00:00Z",
  ]);
  assert.deepEqual(span(cal, "d", "2024-05-10T23:59:59.999Z"), [
    "2024-05-10T00:00:00Z",
    "2024-05-11T00:00:00Z",
  ]);
});

Deno.test("a week is Monday to Monday even across a year boundary", () => {
  const cal = new IntervalCalendar("UTC");
  assert.deepEqual(span(cal, "w", "2025-01-01T12:00:00Z"), [
    "2024-12-30T00:00:00Z",
    "2025-01-06T00:00:00Z",
  ]);
  assert.equal(cal.label("w", ms("2024-12-30T00:00:00Z")), "2025-W01");
  assert.equal(cal.label("w", ms("2021-01-04T00:00:00Z")), "2021-W01");
  assert.equal(cal.label("w", ms("2020-12-28T00:00:00Z")), "2020-W53");
});

Deno.test("Los Angeles days are 23 and 25 hours long on DST days", () => {
  const cal = new IntervalCalendar("America/Los_Angeles");
  assert.deepEqual(span(cal, "d", "2024-03-10T12:00:00-07:00"), [
    "2024-03-10T08:00:00Z",
    "2024-03-11T07:00:00Z",
  ]);
  assert.deepEqual(span(cal, "d", "2024-11-03T12:00:00-08:00"), [
    "2024-11-03T07:00:00Z",
    "2024-11-04T08:00:00Z",
  ]);
});

Deno.test("[differs] the repeated hour at fall-back is two hourly intervals, labelled with their offsets", () => {
  const cal = new IntervalCalendar("America/Los_Angeles");
  const first = cal.containing("h", ms("2024-11-03T01:30:00-07:00"));
  const second = cal.containing("h", ms("2024-11-03T01:30:00-08:00"));
  assert.deepEqual([iso(first.start), iso(first.end)], [
    "2024-11-03T08:00:00Z",
    "2024-11-03T09:00:00Z",
  ]);
  assert.deepEqual([iso(second.start), iso(second.end)], [
    "2024-11-03T09:00:00Z",
    "2024-11-03T10:00:00Z",
  ]);
  assert.equal(cal.label("h", first.start), "2024-11-03 01:00-07:00");
  assert.equal(cal.label("h", second.start), "2024-11-03 01:00-08:00");
  assert.equal(
    cal.label("h", ms("2024-11-03T03:00:00-08:00")),
    "2024-11-03 03:00",
  );
  // Minutes and seconds in that hour contain their own timestamps.
  const t = ms("2024-11-03T01:30:15.250-08:00");
  const m = cal.containing("M", t);
  const s = cal.containing("s", t);
  assert.ok(m.start <= t && t < m.end && m.end - m.start === 60_000);
  assert.ok(s.start <= t && t < s.end && s.end - s.start === 1000);
});

Deno.test("[differs] at spring-forward three hourly intervals cover three real hours", () => {
  const cal = new IntervalCalendar("America/Los_Angeles");
  const last = cal.containing("h", ms("2024-03-10T03:30:00-07:00")).start;
  assert.equal(iso(last), "2024-03-10T10:00:00Z");
  assert.equal(iso(cal.back("h", last, 1)), "2024-03-10T09:00:00Z"); // 01:00 PST
  assert.equal(iso(cal.back("h", last, 2)), "2024-03-10T08:00:00Z"); // 00:00 PST
});

Deno.test("Lord Howe's half-hour DST shift cuts the hour at the transition", () => {
  const cal = new IntervalCalendar("Australia/Lord_Howe");
  // Spring forward 02:00 +10:30 -> 02:30 +11:00.
  assert.deepEqual(span(cal, "h", "2024-10-06T01:45:00+10:30"), [
    "2024-10-05T14:30:00Z",
    "2024-10-05T15:30:00Z",
  ]);
  assert.deepEqual(span(cal, "h", "2024-10-06T02:45:00+11:00"), [
    "2024-10-05T15:30:00Z",
    "2024-10-05T16:00:00Z",
  ]);
  assert.deepEqual(span(cal, "h", "2024-10-06T03:10:00+11:00"), [
    "2024-10-05T16:00:00Z",
    "2024-10-05T17:00:00Z",
  ]);
  // Fall back 02:00 +11:00 -> 01:30 +10:30.
  assert.deepEqual(span(cal, "h", "2024-04-07T01:45:00+11:00"), [
    "2024-04-06T14:00:00Z",
    "2024-04-06T15:00:00Z",
  ]);
  assert.deepEqual(span(cal, "h", "2024-04-07T01:45:00+10:30"), [
    "2024-04-06T15:00:00Z",
    "2024-04-06T15:30:00Z",
  ]);
  assert.equal(
    cal.label("h", ms("2024-04-06T15:00:00Z")),
    "2024-04-07 01:30+10:30",
  );
});

Deno.test("Santiago's midnight transitions: a day starts at the transition where midnight does not exist", () => {
  const cal = new IntervalCalendar("America/Santiago");
  // 2024-09-08 00:00 does not exist: the day starts at 01:00 -03 and is 23 hours long.
  assert.deepEqual(span(cal, "d", "2024-09-08T12:00:00-03:00"), [
    "2024-09-08T04:00:00Z",
    "2024-09-09T03:00:00Z",
  ]);
  assert.deepEqual(span(cal, "d", "2024-09-07T12:00:00-04:00"), [
    "2024-09-07T04:00:00Z",
    "2024-09-08T04:00:00Z",
  ]);
  // 2024-04-06 runs 25 hours: midnight -03 to midnight -04.
  assert.deepEqual(span(cal, "d", "2024-04-06T23:30:00-04:00"), [
    "2024-04-06T03:00:00Z",
    "2024-04-07T04:00:00Z",
  ]);
  // The week of 2024-09-08 (a Sunday) started on Monday 09-02.
  assert.deepEqual(span(cal, "w", "2024-09-08T12:00:00-03:00"), [
    "2024-09-02T04:00:00Z",
    "2024-09-09T03:00:00Z",
  ]);
});

// A tiny seeded PRNG so failures reproduce.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("intervals tile time and back(n) equals stepping back n times, in four zones", () => {
  const rand = mulberry32(20240501);
  for (
    const tz of [
      "UTC",
      "America/Los_Angeles",
      "Australia/Lord_Howe",
      "America/Santiago",
    ]
  ) {
    const cal = new IntervalCalendar(tz);
    for (let i = 0; i < 300; i++) {
      const unit = UNITS[Math.floor(rand() * UNITS.length)];
      // Around DST transitions of 2023-2025 more often than not.
      const t = ms("2023-01-01T00:00:00Z") +
        Math.floor(rand() * 3 * 365 * 86_400_000);
      const iv = cal.containing(unit, t);
      assert.ok(iv.start <= t && t < iv.end, `${tz} ${unit} ${iso(t)}`);
      assert.equal(cal.containing(unit, iv.start).start, iv.start);
      assert.equal(cal.containing(unit, iv.end - 1).end, iv.end);
      assert.equal(cal.containing(unit, iv.end).start, iv.end);
      const n = Math.floor(rand() * (unit === "y" ? 5 : 50));
      let s = iv.start;
      for (let k = 0; k < n; k++) s = cal.containing(unit, s - 1).start;
      assert.equal(
        cal.back(unit, iv.start, n),
        s,
        `${tz} ${unit} ${iso(t)} back ${n}`,
      );
    }
  }
});

Deno.test("an hourly walk across a whole year of DST never overlaps and never leaves a gap", () => {
  for (
    const tz of [
      "America/Los_Angeles",
      "Australia/Lord_Howe",
      "America/Santiago",
    ]
  ) {
    const cal = new IntervalCalendar(tz);
    let t = ms("2024-01-01T00:00:00Z");
    const end = ms("2025-01-01T00:00:00Z");
    let short = 0;
    while (t < end) {
      const iv = cal.containing("h", t);
      assert.equal(iv.start, t);
      assert.ok(iv.end > iv.start && iv.end - iv.start <= 3_600_000);
      if (iv.end - iv.start < 3_600_000) short++;
      t = iv.end;
    }
    // Only Lord Howe's half-hour shifts cut hours short (one at each transition).
    assert.equal(short, tz === "Australia/Lord_Howe" ? 2 : 0, tz);
  }
});

Deno.test("back() with a huge count reaches before any date instead of failing", () => {
  const cal = new IntervalCalendar("America/Los_Angeles");
  const now = ms("2024-05-10T00:00:00Z");
  for (const unit of UNITS) {
    const start = cal.containing(unit, now).start;
    const first = cal.back(unit, start, Number.MAX_SAFE_INTEGER);
    assert.ok(first < ms("1000-01-01T00:00:00Z"), unit);
  }
});

Deno.test("labels name the interval the way the preview shows it", () => {
  const cal = new IntervalCalendar("UTC");
  const t = ms("2024-05-10T14:05:09Z");
  const labels = UNITS.map((u) => cal.describe(u, cal.containing(u, t).start));
  assert.deepEqual(labels, [
    "2024 yearly",
    "2024-Q2 quarterly",
    "2024-05 monthly",
    "2024-W19 weekly",
    "2024-05-10 daily",
    "2024-05-10 14:00 hourly",
    "2024-05-10 14:05 minutely",
    "2024-05-10 14:05:09 secondly",
  ]);
});

Deno.test("ISO seconds carry the zone's numeric offset, +00:00 for UTC and seconds for old local mean time", () => {
  const t = Temporal.Instant.from("2024-05-01T01:00:00.999Z");
  assert.equal(formatIsoSeconds(t, "UTC"), "2024-05-01T01:00:00+00:00");
  assert.equal(
    formatIsoSeconds(t, "America/Los_Angeles"),
    "2024-04-30T18:00:00-07:00",
  );
  assert.equal(
    formatIsoSeconds(t, "Australia/Lord_Howe"),
    "2024-05-01T11:30:00+10:30",
  );
  assert.equal(
    formatIsoSeconds(
      Temporal.Instant.from("1850-01-01T00:00:00Z"),
      "America/Los_Angeles",
    ),
    "1849-12-31T16:07:02-07:52:58",
  );
  assert.throws(
    () => formatIsoSeconds(t, "Mars/Olympus"),
    /unknown time zone "Mars\/Olympus"/,
  );
});

Deno.test("calendar interval starts agree with Temporal's own startOfDay arithmetic", () => {
  const rand = mulberry32(7);
  for (
    const tz of [
      "UTC",
      "America/Los_Angeles",
      "Australia/Lord_Howe",
      "America/Santiago",
    ]
  ) {
    const cal = new IntervalCalendar(tz);
    for (let i = 0; i < 200; i++) {
      const t = ms("2020-01-01T00:00:00Z") +
        Math.floor(rand() * 6 * 365 * 86_400_000);
      const z = Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(
        tz,
      );
      const qMonth = Math.floor((z.month - 1) / 3) * 3 + 1;
      const expected: Record<string, Temporal.ZonedDateTime> = {
        y: z.with({ month: 1, day: 1 }).startOfDay(),
        q: z.with({ month: qMonth, day: 1 }).startOfDay(),
        m: z.with({ day: 1 }).startOfDay(),
        w: z.subtract({ days: z.dayOfWeek - 1 }).startOfDay(),
        d: z.startOfDay(),
      };
      for (const [unit, start] of Object.entries(expected)) {
        assert.equal(
          iso(cal.containing(unit as Unit, t).start),
          start.toInstant().toString(),
          `${tz} ${unit} ${z}`,
        );
      }
    }
  }
});
