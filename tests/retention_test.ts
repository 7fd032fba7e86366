/**
 * Object lock and storage classes in the pure planner: planned expiries,
 * retention of new backups, extensions when a backup's keep grows, deletes
 * deferred until a lock ends, classes per timeframe, and the preview's
 * lines and warnings about them.
 */
import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import { renderPlan } from "../lib/core/plan/preview.ts";
import {
  type Plan,
  type PlanInput,
  type RemoteInventory,
  verdictFacts,
} from "../lib/core/plan/plan.ts";
import { applyPlanInMemory } from "../lib/core/plan/simulate.ts";
import { windowEnd } from "../lib/core/plan/retention.ts";
import { IntervalCalendar } from "../lib/core/policy/intervals.ts";
import { encodeKey } from "../lib/core/keys.ts";
import type { Unit } from "../lib/core/policy/vocabulary.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";

const SOURCE_UUID = "ffffffff-0000-4000-8000-000000000000";
const uuid = (n: number): string =>
  `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const at = (iso: string) => Temporal.Instant.from(iso);

function snap(iso: string, ctransid: number): SnapshotRef {
  return {
    uuid: uuid(ctransid),
    ctransid,
    ctime: at(iso),
    path: `/snaps/src.${iso.replace("Z", "+00:00")}.${ctransid}`,
  };
}

function backup(
  iso: string,
  ctransid: number,
  parent: number | null,
  extra: Partial<BackupInfo> = {},
): BackupInfo {
  const b: BackupInfo = {
    keys: [],
    name: "src",
    ctime: at(iso),
    ctransid,
    uuid: uuid(ctransid),
    sendParentUuid: parent === null ? null : uuid(parent),
    sourceUuid: SOURCE_UUID,
    suffixes: [],
    ...extra,
  };
  b.keys = [encodeKey({ ...b, seqn: 0 }, "UTC")];
  return b;
}

function input(opts: {
  now: string;
  snapshots: SnapshotRef[];
  remote: Partial<RemoteInventory>;
}): PlanInput {
  const last = opts.snapshots.at(-1);
  return {
    timeZone: "UTC",
    now: at(opts.now),
    sources: [{
      path: "/data/src",
      name: "src",
      uuid: SOURCE_UUID,
      // Unchanged since the newest snapshot unless there is none.
      ctransid: last?.ctransid ?? 1,
      ctime: last?.ctime ?? at(opts.now),
      snapshotDir: "/snaps",
      snapshots: opts.snapshots,
      remotes: [{
        id: "aws",
        preserve: "1y",
        keySuffixes: [],
        backups: [],
        ...opts.remote,
      }],
    }],
  };
}

/** Runs the plan on the inventory, as the executor would, the source changing first. */
function runDaily(
  preserve: string,
  remote: Partial<RemoteInventory>,
  from: string,
  days: number,
  onPlan: (p: Plan, day: Temporal.Instant) => void,
): PlanInput {
  let n = 100;
  let state = input({
    now: from,
    snapshots: [],
    remote: { preserve, ...remote },
  });
  let t = at(from);
  for (let d = 0; d < days; d++) {
    const src = state.sources[0];
    state = {
      ...state,
      now: t,
      sources: [{ ...src, ctransid: src.ctransid + 1, ctime: t }],
    };
    const p = plan(state);
    onPlan(p, t);
    state = applyPlanInMemory(state, p, () => uuid(++n));
    t = t.add({ hours: 24 });
  }
  return state;
}

Deno.test("the window of an interval ends where the policy stops keeping it, also across DST and for long policies", () => {
  const berlin = IntervalCalendar.get("Europe/Berlin");
  const naive = (
    cal: IntervalCalendar,
    unit: Unit,
    count: number,
    ms: number,
  ): number => {
    let s = cal.containing(unit, ms).start;
    for (let i = 0; i < count; i++) s = cal.next(unit, s);
    return s;
  };
  const t0 = at("2024-03-30T12:34:56Z").epochMilliseconds;
  for (const cal of [berlin, IntervalCalendar.get("UTC")]) {
    for (
      const [unit, count] of [
        ["y", 2],
        ["q", 5],
        ["m", 13],
        ["w", 60],
        ["d", 400],
        ["h", 100],
        ["M", 3000],
        ["s", 7200],
      ] as [Unit, number][]
    ) {
      for (let k = 0; k < 5; k++) {
        const ms = t0 + k * 7_777_777_777;
        assert.equal(
          windowEnd(cal, unit, count, ms),
          naive(cal, unit, count, ms),
          `${count}${unit} from ${new Date(ms).toISOString()}`,
        );
      }
    }
  }
  // Under "2y" the yearly of 2024 is kept through 2025.
  assert.equal(
    windowEnd(IntervalCalendar.get("UTC"), "y", 2, t0),
    at("2026-01-01T00:00:00Z").epochMilliseconds,
  );
});

Deno.test("new backups are locked until their planned expiry plus extra days, the yearly for two years under 2y 1m 1d", () => {
  const p = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [
      snap("2024-03-01T06:00:00Z", 1),
      snap("2024-03-10T06:00:00Z", 2),
    ],
    remote: {
      preserve: "2y 1m 1d",
      objectLock: { mode: "GOVERNANCE", extraDays: 2 },
    },
  }));
  const [yearly, daily] = p.sources[0].uploads;
  assert.equal(yearly.parent, null);
  assert.deepEqual(yearly.lock, {
    mode: "GOVERNANCE",
    until: at("2026-01-03T00:00:00Z"),
  });
  // The daily: today's interval ends at midnight; it is also the most recent.
  assert.equal(daily.parent?.ctransid, 1);
  assert.deepEqual(daily.lock?.until, at("2024-03-13T00:00:00Z"));
  assert.deepEqual(p.sources[0].retentions, []);
  const text = renderPlan(p);
  assert.match(
    text,
    /upload {2}aws: src\.2024-03-01T06:00:00\+00:00\.1 full, locked until 2026-01-03T00:00:00\+00:00 \(GOVERNANCE\)/,
  );
});

Deno.test("retention is extended when a backup's keep grows: the monthly lives as long as the last daily sent against it", () => {
  const monthly: Temporal.Instant[] = [];
  runDaily(
    "1m 30d",
    { objectLock: { mode: "COMPLIANCE" } },
    "2024-03-01T06:00:00Z",
    25,
    (p, day) => {
      const sp = p.sources[0];
      const upload = sp.uploads.find((u) => u.snapshot.ctime.equals(day))!;
      assert.ok(upload.lock, "every new backup is locked");
      // Today's daily is kept 30 days: its window ends 30 midnights on.
      const dailyEnd = at(day.toString().slice(0, 10) + "T00:00:00Z").add({
        hours: 24 * 30,
      });
      if (day.equals(at("2024-03-01T06:00:00Z"))) {
        assert.equal(upload.parent, null, "the first is the monthly full");
        return;
      }
      assert.ok(dailyEnd.equals(upload.lock.until), `${upload.lock.until}`);
      // The monthly full (ctransid 2) is kept to April 1 by the 1m; past
      // that it is extended to the end of each new daily sent against it.
      if (Temporal.Instant.compare(dailyEnd, at("2024-04-01T00:00:00Z")) <= 0) {
        assert.deepEqual(sp.retentions, []);
        return;
      }
      assert.equal(sp.retentions.length, 1, renderPlan(p));
      const r = sp.retentions[0];
      assert.equal(r.backup.ctransid, 2);
      assert.ok(r.from && Temporal.Instant.compare(r.from, r.to.until) < 0);
      assert.ok(r.to.until.equals(dailyEnd));
      assert.equal(r.to.mode, "COMPLIANCE");
      monthly.push(r.to.until);
    },
  );
  assert.equal(monthly.length, 23);
  assert.ok(monthly.at(-1)!.equals(at("2024-04-24T00:00:00Z")));
});

Deno.test("a delete is never planned before the retention ends, nor of an ancestor a locked backup needs", () => {
  const locked = {
    now: "2024-03-10T12:00:00Z",
    snapshots: [snap("2024-03-10T06:00:00Z", 9)],
    remote: {
      preserve: "1d",
      objectLock: { mode: "GOVERNANCE" as const },
      backups: [
        backup("2024-03-01T06:00:00Z", 1, null),
        backup("2024-03-02T06:00:00Z", 2, 1, {
          retainUntil: at("2024-04-01T00:00:00Z"),
        }),
        backup("2024-03-03T06:00:00Z", 3, null, {
          retainUntil: at("2024-03-05T00:00:00Z"),
        }),
      ],
    },
  };
  const p = plan(input(locked));
  const sp = p.sources[0];
  // Backup 3's lock has ended; 2 is locked, and 1 (unlocked) is its parent.
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [3]);
  const held = sp.backups.filter((v) => v.lockedUntil !== undefined);
  assert.deepEqual(
    held.map((v) => [verdictFacts(v).ctransid, v.lockedUntil!.toString()]),
    [[1, "2024-04-01T00:00:00Z"], [2, "2024-04-01T00:00:00Z"]],
  );
  assert.ok(held.every((v) => !v.keep));
  const text = renderPlan(p);
  assert.match(
    text,
    /locked +2024-03-02T06:00:00\+00:00 {2}diff, locked until 2024-04-01T00:00:00\+00:00 {2}not keeping/,
  );
  assert.match(
    text,
    /keep {4}aws: src\.ctim2024-03-02T06:00:00\+00:00\S*: not deleting, locked until 2024-04-01T00:00:00\+00:00/,
  );
  assert.match(text, /1 to delete, 2 locked/);
  // Once it ends, both go.
  const later = plan(input({ ...locked, now: "2024-04-01T00:00:01Z" }));
  assert.deepEqual(
    later.sources[0].deletes.map((d) => d.backup.ctransid),
    [1, 2, 3],
  );
});

Deno.test("a kept backup without retention gets one; one retained long enough is left alone", () => {
  const p = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [snap("2024-03-01T06:00:00Z", 1)],
    remote: {
      preserve: "1y",
      objectLock: { mode: "GOVERNANCE" },
      backups: [backup("2024-03-01T06:00:00Z", 1, null)],
    },
  }));
  const [r] = p.sources[0].retentions;
  assert.equal(r.from, undefined);
  assert.ok(r.to.until.equals(at("2025-01-01T00:00:00Z")));
  assert.match(
    renderPlan(p),
    /retain {2}aws: \S+ until 2025-01-01T00:00:00\+00:00 \(GOVERNANCE, had none\)/,
  );
  const again = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [snap("2024-03-01T06:00:00Z", 1)],
    remote: {
      preserve: "1y",
      objectLock: { mode: "GOVERNANCE" },
      backups: [
        backup("2024-03-01T06:00:00Z", 1, null, { retainUntil: r.to.until }),
      ],
    },
  }));
  assert.deepEqual(again.sources[0].retentions, []);
});

Deno.test("each new backup goes to the class of the longest timeframe it is kept for", () => {
  const p = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [
      snap("2024-03-01T06:00:00Z", 1),
      snap("2024-03-10T06:00:00Z", 2),
    ],
    remote: {
      preserve: "2y 1m 1d",
      storageClasses: { y: "GLACIER", m: "STANDARD_IA" },
      storageClass: "STANDARD",
    },
  }));
  const [yearly, daily] = p.sources[0].uploads;
  assert.equal(yearly.storageClass, "GLACIER", "kept for y and m: y wins");
  assert.equal(daily.storageClass, "STANDARD", "kept only for d: the default");
  const text = renderPlan(p);
  assert.match(
    text,
    /upload {2}aws: src\.2024-03-01T06:00:00\+00:00\.1 full as GLACIER/,
  );
  assert.match(text, /upload 2024-03-01T06:00:00\+00:00 {2}full, GLACIER/);
});

Deno.test("the preview warns when the newest backup depends on an archived ancestor, and about deletes before a class's minimum", () => {
  const p = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [
      snap("2024-03-01T06:00:00Z", 1),
      snap("2024-03-10T06:00:00Z", 3),
    ],
    remote: {
      preserve: "1m 1d",
      storageClass: "STANDARD",
      backups: [
        backup("2024-03-01T06:00:00Z", 1, null, { storageClass: "GLACIER" }),
        backup("2024-03-05T06:00:00Z", 2, 1, {
          storageClass: "STANDARD_IA",
          uploaded: at("2024-03-05T07:00:00Z"),
        }),
      ],
    },
  }));
  const w = p.sources[0].warnings;
  assert.ok(
    w.some((l) =>
      /^remote aws: the newest backup src\.2024-03-10T06:00:00\+00:00\.3 depends on 1 archived backup\(s\) \(GLACIER: src\.2024-03-01T06:00:00\+00:00\.1\); restoring it waits for their retrieval first/
        .test(l)
    ),
    w.join("\n"),
  );
  assert.ok(
    w.some((l) =>
      l ===
        "remote aws: deleting src.2024-03-05T06:00:00+00:00.2 after 5 days, but STANDARD_IA bills at least 30 days: the rest is charged anyway"
    ),
    w.join("\n"),
  );
  assert.match(renderPlan(p), /! remote aws: deleting src\.2024-03-05/);
  // A new backup whose class bills longer than it is planned to live.
  const short = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [snap("2024-03-10T06:00:00Z", 1)],
    remote: { preserve: "1m", storageClasses: { m: "DEEP_ARCHIVE" } },
  }));
  assert.ok(
    short.sources[0].warnings.some((l) =>
      /goes to DEEP_ARCHIVE, which bills at least 180 days, but is planned to expire in 21 days$/
        .test(l)
    ),
    short.sources[0].warnings.join("\n"),
  );
});

Deno.test("without lock or classes the plan has no retentions and no expiries", () => {
  const p = plan(input({
    now: "2024-03-10T12:00:00Z",
    snapshots: [snap("2024-03-01T06:00:00Z", 1)],
    remote: { preserve: "1y" },
  }));
  assert.deepEqual(p.sources[0].retentions, []);
  assert.ok(p.sources[0].backups.every((v) => v.expiry === undefined));
  assert.equal(p.sources[0].uploads[0].storageClass, undefined);
  assert.equal(p.sources[0].uploads[0].lock, undefined);
});
