// Planning 100,000 snapshots and 100,000 backups (target: under 1 s per plan).
// Run: deno bench bench/plan_bench.ts
import { plan } from "../lib/core/plan/planner.ts";
import type { PlanInput } from "../lib/core/plan/plan.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";
import { encodeKey } from "../lib/core/keys.ts";

const N = 100_000;
const SOURCE = "ffffffff-0000-4000-8000-000000000000";
const uuid = (n: number): string =>
  `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/** Hourly snapshots over ~11 years, each with a backup sent against its year's first (full). */
function inventory(timeZone: string, preserve: string): PlanInput {
  const start = Temporal.Instant.from("2014-01-01T00:30:00Z").epochMilliseconds;
  const snapshots: SnapshotRef[] = [];
  const backups: BackupInfo[] = [];
  let yearFirst = -1;
  let year = -1;
  for (let i = 0; i < N; i++) {
    const ctime = Temporal.Instant.fromEpochMilliseconds(start + i * 3_600_000);
    const y = new Date(start + i * 3_600_000).getUTCFullYear();
    if (y !== year) {
      year = y;
      yearFirst = i;
    }
    snapshots.push({
      uuid: uuid(i),
      ctransid: i + 1,
      ctime,
      path: `/snaps/s${i}`,
    });
    const sendParentUuid = i === yearFirst ? null : uuid(yearFirst);
    const key = encodeKey({
      name: "src",
      ctime,
      ctransid: i + 1,
      uuid: uuid(i),
      sendParentUuid,
      sourceUuid: SOURCE,
      seqn: 0,
      suffixes: [],
    }, timeZone);
    backups.push({
      keys: [key],
      name: "src",
      ctime,
      ctransid: i + 1,
      uuid: uuid(i),
      sendParentUuid,
      sourceUuid: SOURCE,
      suffixes: [],
      size: 1 << 20,
    });
  }
  const last = snapshots[N - 1];
  return {
    timeZone,
    now: last.ctime.add({ hours: 1 }),
    sources: [{
      path: "/src",
      name: "src",
      uuid: SOURCE,
      ctransid: last.ctransid + 1,
      ctime: last.ctime.add({ minutes: 30 }),
      snapshotDir: "/snaps",
      snapshots,
      remotes: [{ id: "s3", preserve, keySuffixes: ["zst"], backups }],
    }],
  };
}

const la = inventory("America/Los_Angeles", "1y 3m 30d 24h");
const deep = inventory("Australia/Lord_Howe", "10y 4q 12m 8w 60d 48h");

Deno.bench({
  name:
    "plan 100k snapshots + 100k backups, 1y 3m 30d 24h, America/Los_Angeles",
  n: 5,
  warmup: 1,
  fn: () => {
    const p = plan(la);
    if (p.sources[0].deletes.length < N / 2) throw new Error("unexpected plan");
  },
});

Deno.bench({
  name:
    "plan 100k snapshots + 100k backups, 10y 4q 12m 8w 60d 48h, Australia/Lord_Howe",
  n: 5,
  warmup: 1,
  fn: () => {
    plan(deep);
  },
});
