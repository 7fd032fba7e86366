/** The executor's order and its handling of a failed remote, on a recording fake world (pure logic). */
import assert from "node:assert/strict";
import {
  executePlan,
  type ExecutorWorld,
  sendGroups,
  type UploadTarget,
} from "../lib/core/plan/executor.ts";
import type { Plan, SourcePlan, Upload } from "../lib/core/plan/plan.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";

const T0 = Temporal.Instant.from("2024-05-01T00:00:00Z");

function snap(name: string, ctransid: number): SnapshotRef {
  return {
    uuid: `uuid-${name}`,
    ctransid,
    ctime: T0.add({ hours: ctransid }),
    path: `/snaps/${name}`,
  };
}

function up(
  remoteId: string,
  snapshot: SnapshotRef,
  parent: SnapshotRef | null,
): Upload {
  return {
    remoteId,
    snapshot,
    parent,
    key: `${snapshot.uuid}.sndp${parent?.uuid ?? "0"}`,
    reasons: [],
    replacingNewer: false,
    repair: false,
  };
}

function backup(s: SnapshotRef): BackupInfo {
  return {
    name: "data",
    ctime: s.ctime,
    ctransid: s.ctransid,
    uuid: s.uuid,
    sendParentUuid: null,
    sourceUuid: "src",
    suffixes: [],
    keys: [`${s.uuid}.key`],
  };
}

function source(
  path: string,
  parts:
    & Pick<SourcePlan, "uploads" | "destroys" | "deletes">
    & Partial<Pick<SourcePlan, "retentions">>,
): SourcePlan {
  return {
    path,
    name: path.slice(1),
    uuid: `uuid-${path}`,
    snapshotDir: "/snaps",
    createSnapshot: null,
    foreign: [],
    renames: [],
    snapshots: [],
    backups: [],
    massDeletions: [],
    warnings: [],
    retentions: [],
    ...parts,
  };
}

/** A world that records every call; uploads to `failing` remotes fail. */
function fakeWorld(failing: string[] = []) {
  const calls: string[] = [];
  const world: ExecutorWorld = {
    pid: 1,
    createSnapshot: () => Promise.reject(new Error("not planned")),
    rename: () => Promise.resolve(),
    upload(_source, targets: readonly UploadTarget[]) {
      calls.push(
        `send ${targets[0].upload.snapshot.uuid} -> ${
          targets.map((t) => t.upload.remoteId).join("+")
        }`,
      );
      return Promise.resolve(
        targets.map((t) =>
          failing.includes(t.upload.remoteId)
            ? new Error(`store of ${t.upload.remoteId} answered 500`)
            : null
        ),
      );
    },
    extendRetention(r) {
      calls.push(`retain ${r.remoteId} ${r.backup.uuid}`);
      return Promise.resolve();
    },
    destroy(s) {
      calls.push(`destroy ${s.uuid}`);
      return Promise.resolve();
    },
    deleteBackup(remoteId, b) {
      calls.push(`delete ${remoteId} ${b.uuid}`);
      return Promise.resolve();
    },
    snapshotPath: (_s, s) => s.path,
    rekey: (u) => u.key,
    log: () => {},
  };
  return { world, calls };
}

const a = snap("a", 1);
const b = snap("b", 2);
const c = snap("c", 3);

Deno.test("uploads of one snapshot with one parent to several remotes share one send; other parents get their own", () => {
  const groups = sendGroups([
    up("usb", a, null),
    up("s3", a, null),
    up("usb", b, a),
    up("s3", b, a),
    up("r2", b, null),
    up("usb", c, b),
  ]);
  assert.deepEqual(
    groups.map((g) => g.map((u) => `${u.remoteId}:${u.snapshot.uuid}`)),
    [
      ["usb:uuid-a", "s3:uuid-a"],
      ["usb:uuid-b", "s3:uuid-b"],
      ["r2:uuid-b"],
      ["usb:uuid-c"],
    ],
  );
});

Deno.test("a failed remote costs only its own uploads; its source keeps its snapshots and its backups there; other remotes and sources go on", async () => {
  const plan: Plan = {
    timeZone: "UTC",
    now: T0,
    sources: [
      source("/data", {
        uploads: [
          up("usb", b, null),
          up("ceph", b, null),
          up("usb", c, b),
          up("ceph", c, b),
        ],
        destroys: [a],
        deletes: [
          { remoteId: "usb", backup: backup(a) },
          { remoteId: "ceph", backup: backup(a) },
        ],
        retentions: ["usb", "ceph"].map((remoteId) => ({
          remoteId,
          backup: backup(a),
          to: { mode: "GOVERNANCE", until: T0.add({ hours: 24 }) },
        })),
      }),
      source("/home", {
        uploads: [up("usb", c, null)],
        destroys: [b],
        deletes: [{ remoteId: "usb", backup: backup(a) }],
      }),
    ],
  };
  const { world, calls } = fakeWorld(["ceph"]);
  const report = await executePlan(plan, world);
  assert.deepEqual(calls, [
    "send uuid-b -> usb+ceph",
    // ceph failed: its next upload (a differential on the failed one) is not tried.
    "send uuid-c -> usb",
    // Retention is extended where the uploads went; ceph's waits for the next run.
    "retain usb uuid-a",
    // Every source's uploads come before any destroy or delete.
    "send uuid-c -> usb",
    // /data keeps its snapshot; usb's planned delete goes ahead, ceph's does not.
    "delete usb uuid-a",
    // /home had no failure: its plan runs in full.
    "destroy uuid-b",
    "delete usb uuid-a",
  ]);
  assert.equal(report.uploaded.length, 3);
  assert.equal(report.failed.length, 1);
  assert.equal(report.failed[0].remoteId, "ceph");
  assert.deepEqual(report.skipped, [`ceph:${up("ceph", c, b).key}`]);
  assert.equal(report.destroysSkipped, 1);
  assert.equal(report.deletesSkipped, 1);
  assert.equal(report.destroyed, 1);
  assert.equal(report.deleted, 2);
  assert.match(report.error?.message ?? "", /ceph answered 500/);
});

Deno.test("an upload that cannot start at all stops the run before anything is destroyed or deleted", async () => {
  const plan: Plan = {
    timeZone: "UTC",
    now: T0,
    sources: [
      source("/data", {
        uploads: [up("usb", b, null)],
        destroys: [a],
        deletes: [{ remoteId: "usb", backup: backup(a) }],
      }),
      source("/home", {
        uploads: [],
        destroys: [b],
        deletes: [],
      }),
    ],
  };
  const { world, calls } = fakeWorld();
  world.upload = () => Promise.reject(new Error("snapshot is writable"));
  const report = await executePlan(plan, world);
  assert.deepEqual(calls, []);
  assert.equal(report.destroyed + report.deleted, 0);
  assert.match(report.error?.message ?? "", /writable/);
});
