// Property tests of the planner over random policies, zones and schedules.
// Every scenario is seeded: a failure message names its seed, and the same seed replays it.
import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import { applyPlanInMemory } from "../lib/core/plan/simulate.ts";
import { isEmptyPlan } from "../lib/core/plan/plan.ts";
import type { Plan, PlanInput } from "../lib/core/plan/plan.ts";
import { parsePolicy, UNITS } from "../lib/core/policy/grammar.ts";

const ZONES = [
  "UTC",
  "America/Los_Angeles",
  "Australia/Lord_Howe",
  "America/Santiago",
];

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

const MAX_COUNT: Record<string, number> = {
  y: 2,
  q: 3,
  m: 4,
  w: 4,
  d: 8,
  h: 8,
  M: 6,
  s: 6,
};

function randomPolicy(rand: () => number, must?: string): string {
  return UNITS.filter((u) => u === must || rand() < 0.35)
    .map((u) => `${1 + Math.floor(rand() * MAX_COUNT[u])}${u}`).join(" ");
}

interface Scenario {
  seed: number;
  timeZone: string;
  policies: string[];
  /** Run times, increasing. */
  ticks: Temporal.Instant[];
  /** ctime of the source's change before each run, or null when it did not change. */
  changes: (Temporal.Instant | null)[];
}

function uuidMinter(): () => string {
  let n = 0;
  return () =>
    `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, "0")}`;
}

/** Fail with a message built only on failure (these checks run a million times). */
function check(ok: boolean, message: () => string): void {
  if (!ok) assert.fail(message());
}

/** Check the invariants of one state, after a run has been carried out. */
function checkState(
  state: PlanInput,
  executed: Plan,
  label: () => string,
): void {
  const src = state.sources[0];
  const sp = executed.sources[0];
  check(sp.warnings.length === 0, () => `${label()}: warnings ${sp.warnings}`);
  // The most recent snapshot survives the run.
  let top = 0;
  for (const s of src.snapshots) top = Math.max(top, s.ctransid);
  check(
    src.snapshots.length === 0 || top === src.ctransid,
    () => `${label()}: most recent snapshot destroyed`,
  );
  let slotsAll = 0;
  for (const remote of src.remotes) {
    const policy = parsePolicy(remote.preserve);
    const slots = policy.units.reduce((n, u) => n + policy.counts[u], 0);
    slotsAll += slots + 1;
    const byUuid = new Map(remote.backups.map((b) => [b.uuid, b]));
    check(
      byUuid.size === remote.backups.length,
      () => `${label()}: duplicate backup uuid`,
    );
    for (const b of remote.backups) {
      // Every kept backup's chain exists and ends at a full backup.
      let cur = b;
      for (let steps = 0; cur.sendParentUuid !== null; steps++) {
        check(
          steps <= remote.backups.length,
          () => `${label()}: send-parent cycle`,
        );
        const parent = byUuid.get(cur.sendParentUuid);
        if (parent === undefined) {
          assert.fail(
            `${label()}: ${remote.id} backup ${cur.ctransid} lost its parent ${cur.sendParentUuid}`,
          );
        }
        check(
          parent.ctransid < cur.ctransid,
          () => `${label()}: parent not older`,
        );
        cur = parent;
      }
    }
    // Nominal backups of preserved intervals, the most recent, and chains at most one per unit deep.
    check(
      remote.backups.length <= (slots + 1) * (policy.units.length + 1),
      () =>
        `${label()}: ${remote.backups.length} backups for ${slots} slots of ${remote.preserve}`,
    );
  }
  check(
    src.snapshots.length <= slotsAll,
    () =>
      `${label()}: ${src.snapshots.length} snapshots > ${slotsAll} slots + most recent`,
  );
  // Planning again with nothing changed does nothing.
  const again = plan(state);
  check(
    isEmptyPlan(again),
    () =>
      `${label()}: second plan not empty: ${
        JSON.stringify({
          create: again.sources[0].createSnapshot !== null,
          renames: again.sources[0].renames.length,
          uploads: again.sources[0].uploads.map((u) => u.snapshot.ctransid),
          destroys: again.sources[0].destroys.map((s) => s.ctransid),
          deletes: again.sources[0].deletes.map((d) => d.backup.ctransid),
        })
      }`,
  );
}

function runScenario(s: Scenario): PlanInput {
  const mint = uuidMinter();
  let state: PlanInput = {
    timeZone: s.timeZone,
    now: s.ticks[0],
    sources: [{
      path: "/src",
      name: "src",
      uuid: "ffffffff-0000-4000-8000-000000000000",
      ctransid: 0,
      ctime: s.ticks[0],
      snapshotDir: "/snaps",
      snapshots: [],
      remotes: s.policies.map((preserve, i) => ({
        id: `r${i}`,
        preserve,
        keySuffixes: i === 0 ? [] : ["zst"],
        backups: [],
      })),
    }],
  };
  for (let i = 0; i < s.ticks.length; i++) {
    const src = state.sources[0];
    const change = s.changes[i];
    state = {
      ...state,
      now: s.ticks[i],
      sources: [
        change === null && src.ctransid > 0
          ? src
          : { ...src, ctransid: src.ctransid + 1, ctime: change ?? s.ticks[i] },
      ],
    };
    const p = plan(state);
    state = applyPlanInMemory(state, p, mint);
    checkState(
      state,
      p,
      () =>
        `seed ${s.seed} (${s.timeZone}, ${
          JSON.stringify(s.policies)
        }) run ${i} at ${s.ticks[i]}`,
    );
  }
  return state;
}

function randomScenario(seed: number): Scenario {
  const rand = mulberry32(seed);
  const timeZone = ZONES[Math.floor(rand() * ZONES.length)];
  const policies = [randomPolicy(rand)];
  if (rand() < 0.3) policies.push(randomPolicy(rand));
  // Gaps scaled to the policy's finest unit, so every unit sees several intervals.
  const finest = policies.flatMap((p) => parsePolicy(p).units).reduce(
    (f, u) => (UNITS.indexOf(u) > UNITS.indexOf(f) ? u : f),
    "d",
  );
  const scale: Record<string, number> = {
    y: 86_400_000 * 20,
    q: 86_400_000 * 5,
    m: 86_400_000 * 2,
    w: 86_400_000,
    d: 3_600_000 * 5,
    h: 1_200_000,
    M: 20_000,
    s: 700,
  };
  // Start near DST transitions of 2024 half the time.
  const starts = [
    "2024-03-09T00:00:00Z",
    "2024-11-02T00:00:00Z",
    "2024-04-05T00:00:00Z",
    "2024-09-06T00:00:00Z",
    "2024-10-04T00:00:00Z",
  ];
  let t = rand() < 0.5
    ? Temporal.Instant.from(starts[Math.floor(rand() * starts.length)])
      .epochMilliseconds
    : Temporal.Instant.from("2023-01-01T00:00:00Z").epochMilliseconds +
      Math.floor(rand() * 2 * 365 * 86_400_000);
  const n = 40 + Math.floor(rand() * 80);
  const ticks: Temporal.Instant[] = [];
  const changes: (Temporal.Instant | null)[] = [];
  let lastCtime = t;
  for (let i = 0; i < n; i++) {
    const r = rand();
    const gap = r < 0.1
      ? 1000 + rand() * 10_000
      : r < 0.9
      ? scale[finest] * (0.2 + rand() * 2)
      : scale[finest] * (5 + rand() * 20);
    t += Math.floor(gap);
    ticks.push(Temporal.Instant.fromEpochMilliseconds(t));
    const c = rand();
    if (c < 0.1 && i > 0) changes.push(null);
    else if (c < 0.15) {
      // The clock went backwards: the change is older than the previous one.
      lastCtime = lastCtime - Math.floor(rand() * scale[finest] * 3);
      changes.push(Temporal.Instant.fromEpochMilliseconds(lastCtime));
    } else {
      lastCtime = t - Math.floor(rand() * gap * 0.5);
      changes.push(Temporal.Instant.fromEpochMilliseconds(lastCtime));
    }
  }
  return { seed, timeZone, policies, ticks, changes };
}

Deno.test("random policies, zones and schedules: chains stay whole, counts stay bounded, a second plan is empty", () => {
  for (let seed = 1; seed <= 150; seed++) runScenario(randomScenario(seed));
});

Deno.test("a year of hourly runs across DST in four zones keeps every invariant", () => {
  const rand = mulberry32(2024);
  for (const timeZone of ZONES) {
    const policy = timeZone === "America/Los_Angeles"
      ? "1y 3m 30d 24h"
      : randomPolicy(rand, "h");
    const start = Temporal.Instant.from("2024-01-01T00:17:00Z");
    const ticks: Temporal.Instant[] = [];
    for (let i = 0; i < 366 * 24; i++) ticks.push(start.add({ hours: i }));
    const state = runScenario({
      seed: 2024,
      timeZone,
      policies: [policy],
      ticks,
      changes: ticks,
    });
    const src = state.sources[0];
    assert.ok(src.snapshots.length > 0);
    if (policy === "1y 3m 30d 24h") {
      // 1 yearly + 2 other monthlies + 29 other dailies + 23 other hourlies at most, all one per run.
      assert.ok(
        src.snapshots.length <= 1 + 3 + 30 + 24 + 1,
        `${src.snapshots.length}`,
      );
      assert.equal(
        src.remotes[0].backups.filter((b) => b.sendParentUuid === null).length,
        1,
      );
    }
  }
});

Deno.test("the fall-back hour gives two hourly snapshots in Los Angeles [differs]", () => {
  const ticks: Temporal.Instant[] = [];
  const start = Temporal.Instant.from("2024-11-03T06:30:00Z"); // 23:30 PDT on 11-02
  for (let i = 0; i < 6; i++) ticks.push(start.add({ hours: i }));
  const state = runScenario({
    seed: 0,
    timeZone: "America/Los_Angeles",
    policies: ["6h"],
    ticks,
    changes: ticks,
  });
  // 23:30 PDT, 00:30 PDT, 01:30 PDT, 01:30 PST, 02:30 PST, 03:30 PST: six real hours, six intervals.
  assert.equal(state.sources[0].snapshots.length, 6);
});
