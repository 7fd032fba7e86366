// The worked examples 1-8 of POLICY.md, through the planner (9 and 10 are in simulate_test.ts).
import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import { applyPlanInMemory } from "../lib/core/plan/simulate.ts";
import { isEmptyPlan } from "../lib/core/plan/plan.ts";
import type { Plan, PlanInput, SourcePlan } from "../lib/core/plan/plan.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";
import { encodeKey } from "../lib/core/keys.ts";

const SOURCE_UUID = "ffffffff-0000-4000-8000-000000000000";

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** A snapshot named by its time; the uuid is derived from the ctransid. */
function snap(iso: string, ctransid: number): SnapshotRef {
  const ctime = Temporal.Instant.from(iso);
  const path = `/snaps/src.${iso}.${ctransid}`;
  return { uuid: uuid(ctransid), ctransid, ctime, path };
}

/** A backup of the snapshot with `ctransid`, sent against `parent` (a ctransid) or full. */
function backup(
  iso: string,
  ctransid: number,
  parent: number | null,
): BackupInfo {
  const ctime = Temporal.Instant.from(iso);
  const key = encodeKey({
    name: "src",
    ctime,
    ctransid,
    uuid: uuid(ctransid),
    sendParentUuid: parent === null ? null : uuid(parent),
    sourceUuid: SOURCE_UUID,
    seqn: 0,
    suffixes: [],
  }, "UTC");
  return {
    keys: [key],
    name: "src",
    ctime,
    ctransid,
    uuid: uuid(ctransid),
    sendParentUuid: parent === null ? null : uuid(parent),
    sourceUuid: SOURCE_UUID,
    suffixes: [],
  };
}

function input(
  policy: string,
  now: string,
  snapshots: SnapshotRef[],
  backups: BackupInfo[] = [],
  timeZone = "UTC",
): PlanInput {
  const last = snapshots.reduce((a, s) => (s.ctransid > a.ctransid ? s : a));
  return {
    timeZone,
    now: Temporal.Instant.from(now),
    sources: [{
      path: "/src",
      name: "src",
      uuid: SOURCE_UUID,
      // Unchanged since the last snapshot: no new snapshot in these examples.
      ctransid: last.ctransid,
      ctime: last.ctime,
      snapshotDir: "/snaps",
      snapshots,
      remotes: [{ id: "r", preserve: policy, keySuffixes: [], backups }],
    }],
  };
}

const ctid = (s: { ctransid: number }): number => s.ctransid;

/** Uploads as [ctransid, parent ctransid | null]. */
function uploads(sp: SourcePlan): [number, number | null][] {
  return sp.uploads.map((
    u,
  ) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]);
}

function keptSnapshots(sp: SourcePlan): number[] {
  return sp.snapshots.filter((v) => v.keep).map((v) => v.snapshot.ctransid);
}

function keptBackups(sp: SourcePlan): number[] {
  return sp.backups.flatMap((v) =>
    v.keep && v.kind === "existing" ? [v.backup.ctransid] : []
  );
}

/** Carry the plan out and plan again: nothing left to do. */
function assertStable(inp: PlanInput, p: Plan): void {
  let n = 1000;
  const after = applyPlanInMemory(inp, p, () => uuid(++n));
  const again = plan(after);
  assert.ok(isEmptyPlan(again), "second plan is not empty");
}

Deno.test("example 1: 30d keeps the first snapshot of each of 30 days as full backups and the most recent against today's", () => {
  const snaps: SnapshotRef[] = [];
  let c = 0;
  for (
    let d = Temporal.PlainDate.from("2024-02-10");
    Temporal.PlainDate.compare(d, Temporal.PlainDate.from("2024-03-15")) <= 0;
    d = d.add({ days: 1 })
  ) {
    snaps.push(snap(`${d}T06:00:00Z`, ++c), snap(`${d}T18:00:00Z`, ++c));
  }
  const inp = input("30d", "2024-03-15T12:00:00Z", snaps);
  const sp = plan(inp).sources[0];
  const sixes = snaps.filter((s) =>
    s.path.includes("T06:00:00Z") && s.path >= "/snaps/src.2024-02-15"
  );
  assert.equal(sixes.length, 30);
  const latest = snaps[snaps.length - 1];
  assert.deepEqual(keptSnapshots(sp), [...sixes.map(ctid), latest.ctransid]);
  assert.deepEqual(uploads(sp), [
    ...sixes.map((s): [number, null] => [s.ctransid, null]),
    [latest.ctransid, sixes[29].ctransid],
  ]);
  assert.equal(sp.destroys.length, snaps.length - 31);
  assert.equal(sp.createSnapshot, null);
  assertStable(inp, plan(inp));
});

Deno.test("example 2: 1y 1m drops the second snapshot of the day; the most recent goes against the yearly", () => {
  const inp = input("1y 1m", "2006-01-02T00:00:00Z", [
    snap("2006-01-01T00:00:00Z", 1),
    snap("2006-01-02T00:00:00Z", 2),
    snap("2006-01-02T00:00:01Z", 3),
  ]);
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[1, null], [3, 1]]);
  assert.deepEqual(keptSnapshots(sp), [1, 3]);
  assert.deepEqual(sp.destroys.map(ctid), [2]);
  assertStable(inp, plan(inp));
});

Deno.test("example 3: 1m 1w 1d, weeks do not nest in months; last month's nominal is uploaded as an ancestor and its snapshot dropped", () => {
  const inp = input("1m 1w 1d", "2024-02-02T12:00:00Z", [
    snap("2024-01-28T10:00:00Z", 1),
    snap("2024-01-29T10:00:00Z", 2),
    snap("2024-02-01T10:00:00Z", 3),
    snap("2024-02-02T10:00:00Z", 4),
    snap("2024-02-02T11:00:00Z", 5),
  ]);
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[1, null], [2, 1], [3, null], [4, 2], [5, 4]]);
  assert.deepEqual(keptSnapshots(sp), [2, 3, 4, 5]);
  assert.deepEqual(sp.destroys.map(ctid), [1]);
  const anc = sp.uploads[0];
  assert.deepEqual(anc.reasons, [{ kind: "ancestor", remoteId: "r" }]);
  assertStable(inp, plan(inp));
});

Deno.test("example 4: 1y 2m in a new year uploads a full yearly and keeps December's backup with its full ancestor", () => {
  const inp = input(
    "1y 2m",
    "2007-01-01T00:00:00Z",
    [snap("2006-12-01T00:00:00Z", 2), snap("2007-01-01T00:00:00Z", 3)],
    [
      backup("2006-01-01T00:00:00Z", 1, null),
      backup("2006-12-01T00:00:00Z", 2, 1),
    ],
  );
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[3, null]]);
  assert.deepEqual(keptBackups(sp), [1, 2]);
  assert.deepEqual(sp.deletes, []);
  assert.deepEqual(keptSnapshots(sp), [2, 3]);
  const b1 = sp.backups.find((v) =>
    v.kind === "existing" && v.backup.ctransid === 1
  );
  assert.ok(b1);
  assert.deepEqual(b1.reasons, [{ kind: "ancestor", remoteId: "r" }]);
  assertStable(inp, plan(inp));
});

Deno.test("example 5: the nominal snapshot is the smallest ctransid, not the earliest time", () => {
  const inp = input("1d", "2024-05-01T23:00:00Z", [
    snap("2024-05-01T10:00:00Z", 100),
    snap("2024-05-01T09:00:00Z", 101),
    snap("2024-05-01T11:00:00Z", 102),
  ]);
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[100, null], [102, 100]]);
  assert.deepEqual(sp.destroys.map(ctid), [101]);
  assertStable(inp, plan(inp));
});

Deno.test("example 6: no snapshot, snapshot is newer, replacing newer, and an unwanted backup with a missing parent", () => {
  const inp = input(
    "3d",
    "2024-05-03T12:00:00Z",
    [
      snap("2024-05-02T02:00:00Z", 21),
      snap("2024-05-03T01:00:00Z", 30),
      snap("2024-05-03T02:00:00Z", 31),
    ],
    [
      backup("2024-05-01T05:00:00Z", 10, null),
      backup("2024-05-02T01:00:00Z", 20, null),
      backup("2024-05-03T02:00:00Z", 31, null),
      backup("2024-04-20T00:00:00Z", 5, 4),
    ],
  );
  const sp = plan(inp).sources[0];
  const v = (n: number) => {
    const found = sp.backups.find((b) =>
      b.kind === "existing" && b.backup.ctransid === n
    );
    assert.ok(found, `no backup of ctransid ${n}`);
    return found;
  };
  assert.deepEqual(v(10).flags, ["no-snapshot"]);
  assert.deepEqual(v(10).reasons, [{
    kind: "no-snapshot",
    remoteId: "r",
    unit: "d",
    label: "2024-05-01",
  }]);
  assert.deepEqual(v(20).flags, ["snapshot-is-newer"]);
  assert.deepEqual(v(31).reasons, [{ kind: "most-recent", remoteId: "r" }]);
  assert.deepEqual(uploads(sp), [[30, null]]);
  assert.equal(sp.uploads[0].replacingNewer, true);
  assert.deepEqual(keptSnapshots(sp), [21, 30, 31]);
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [5]);
  assert.deepEqual(keptBackups(sp), [10, 20, 31]);
  assert.deepEqual(sp.destroys, []);
  assertStable(inp, plan(inp));
});

Deno.test("example 7: 1y 2q makes the year's first snapshot full and the quarter's its child", () => {
  const inp = input("1y 2q", "2024-05-15T00:00:00Z", [
    snap("2023-12-01T00:00:00Z", 1),
    snap("2024-01-02T00:00:00Z", 2),
    snap("2024-02-01T00:00:00Z", 3),
    snap("2024-04-03T00:00:00Z", 4),
    snap("2024-05-01T00:00:00Z", 5),
    snap("2024-05-14T00:00:00Z", 6),
  ]);
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[2, null], [4, 2], [6, 4]]);
  assert.deepEqual(keptSnapshots(sp), [2, 4, 6]);
  assert.deepEqual(sp.destroys.map(ctid), [1, 3, 5]);
  assertStable(inp, plan(inp));
});

Deno.test("example 8: the empty policy keeps only the most recent snapshot as a full backup", () => {
  const inp = input(
    "",
    "2024-05-03T12:00:00Z",
    [
      snap("2024-05-01T00:00:00Z", 1),
      snap("2024-05-02T00:00:00Z", 2),
      snap("2024-05-03T00:00:00Z", 3),
    ],
    [backup("2024-05-02T00:00:00Z", 2, null)],
  );
  const sp = plan(inp).sources[0];
  assert.deepEqual(uploads(sp), [[3, null]]);
  assert.deepEqual(keptSnapshots(sp), [3]);
  assert.deepEqual(sp.destroys.map(ctid), [1, 2]);
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [2]);
  assertStable(inp, plan(inp));
});
