import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import {
  type NewBackupVerdict,
  PENDING_UUID,
  type PlanInput,
  type RemoteInventory,
  type SourcePlan,
  verdictFacts,
} from "../lib/core/plan/plan.ts";
import { applyPlanInMemory } from "../lib/core/plan/simulate.ts";
import { isEmptyPlan } from "../lib/core/plan/plan.ts";
import { encodeKey, parseKey } from "../lib/core/keys.ts";
import { PolicySyntaxError } from "../lib/core/policy/grammar.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";

const SOURCE_UUID = "ffffffff-0000-4000-8000-000000000000";
const uuid = (n: number): string =>
  `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

function snap(iso: string, ctransid: number, path?: string): SnapshotRef {
  const ctime = Temporal.Instant.from(iso);
  return {
    uuid: uuid(ctransid),
    ctransid,
    ctime,
    path: path ?? `/snaps/src.${iso.replace("Z", "+00:00")}.${ctransid}`,
  };
}

function backup(
  iso: string,
  ctransid: number,
  parent: number | null,
  extra: Partial<BackupInfo> = {},
): BackupInfo {
  const ctime = Temporal.Instant.from(iso);
  const b: BackupInfo = {
    keys: [],
    name: "src",
    ctime,
    ctransid,
    uuid: uuid(ctransid),
    sendParentUuid: parent === null ? null : uuid(parent),
    sourceUuid: SOURCE_UUID,
    suffixes: [],
    ...extra,
  };
  if (b.keys.length === 0) {
    b.keys = [encodeKey({ ...b, seqn: 0 }, "UTC")];
  }
  return b;
}

function input(
  opts: {
    now: string;
    snapshots: SnapshotRef[];
    remotes: Partial<RemoteInventory>[];
    source?: { ctransid: number; ctime: string };
    timeZone?: string;
  },
): PlanInput {
  const last = opts.snapshots.reduce(
    (a, s) => (s.ctransid > a.ctransid ? s : a),
    { ctransid: 0, ctime: Temporal.Instant.from(opts.now) } as {
      ctransid: number;
      ctime: Temporal.Instant;
    },
  );
  return {
    timeZone: opts.timeZone ?? "UTC",
    now: Temporal.Instant.from(opts.now),
    sources: [{
      path: "/data/src",
      name: "src",
      uuid: SOURCE_UUID,
      ctransid: opts.source?.ctransid ?? last.ctransid,
      ctime: opts.source
        ? Temporal.Instant.from(opts.source.ctime)
        : last.ctime,
      snapshotDir: "/snaps",
      snapshots: opts.snapshots,
      remotes: opts.remotes.map((r, i) => ({
        id: r.id ?? `r${i}`,
        preserve: r.preserve ?? "1d",
        keySuffixes: r.keySuffixes ?? [],
        backups: r.backups ?? [],
      })),
    }],
  };
}

Deno.test("a snapshot is created when the source changed past every snapshot, or when there is none", () => {
  const none = plan(input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [],
    remotes: [{}],
    source: { ctransid: 7, ctime: "2024-05-01T11:59:30.5Z" },
  })).sources[0];
  assert.deepEqual(none.createSnapshot, {
    uuid: PENDING_UUID,
    ctransid: 7,
    ctime: Temporal.Instant.from("2024-05-01T11:59:30.5Z"),
    path: "/snaps/src.2024-05-01T11:59:30+00:00.7",
  });
  assert.equal(none.uploads[0].snapshot.uuid, PENDING_UUID);
  assert.match(none.uploads[0].key, /\.uuidpending\./);

  const unchanged = plan(input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [snap("2024-05-01T10:00:00Z", 7)],
    remotes: [{}],
    source: { ctransid: 7, ctime: "2024-05-01T10:00:00Z" },
  })).sources[0];
  assert.equal(unchanged.createSnapshot, null);

  const changed = plan(input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [snap("2024-05-01T10:00:00Z", 7)],
    remotes: [{}],
    source: { ctransid: 9, ctime: "2024-05-01T11:00:00Z" },
  })).sources[0];
  assert.equal(changed.createSnapshot?.ctransid, 9);
  // The pending snapshot is the most recent and is sent against the day's nominal.
  const pending = changed.uploads.find((u) =>
    u.snapshot.uuid === PENDING_UUID
  )!;
  assert.equal(pending.parent?.ctransid, 7);
  assert.ok(changed.snapshots.at(-1)!.keep);
});

Deno.test("kept snapshots with a non-canonical name are renamed; doomed ones are not", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [
      snap("2024-05-01T10:00:00Z", 1, "/snaps/src.NEW.1234"),
      snap("2024-05-01T11:00:00Z", 2, "/snaps/src.2024-05-01T13:00:00+02:00.2"),
      snap("2024-05-02T10:00:00Z", 3),
    ],
    remotes: [{ preserve: "2d" }],
  })).sources[0];
  assert.deepEqual(sp.renames, [{
    uuid: uuid(1),
    from: "/snaps/src.NEW.1234",
    to: "/snaps/src.2024-05-01T10:00:00+00:00.1",
  }]);
  assert.deepEqual(sp.destroys.map((s) => s.path), [
    "/snaps/src.2024-05-01T13:00:00+02:00.2",
  ]);
});

Deno.test("a rename never lands on another snapshot's path", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [
      snap("2024-05-01T10:00:00Z", 1, "/snaps/src.2024-05-02T10:00:00+00:00.3"),
      snap("2024-05-02T10:00:00Z", 3, "/snaps/src.2024-05-01T10:00:00+00:00.1"),
    ],
    remotes: [{ preserve: "2d" }],
  })).sources[0];
  assert.deepEqual(sp.renames, []);
  assert.equal(
    sp.warnings.filter((w) => w.startsWith("not renaming")).length,
    2,
  );
});

Deno.test("uploads carry the remote's key suffixes and parse back with the codec", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [
      snap("2024-05-01T10:00:00Z", 1),
      snap("2024-05-02T10:00:00Z", 2),
    ],
    remotes: [{ preserve: "1m 2d", keySuffixes: ["zst", "age"] }],
    timeZone: "America/Los_Angeles",
  })).sources[0];
  assert.equal(sp.uploads.length, 2);
  for (const u of sp.uploads) {
    const r = parseKey(u.key);
    assert.ok(r.ok, u.key);
    assert.deepEqual(r.key.suffixes, ["zst", "age"]);
    assert.equal(r.key.uuid, u.snapshot.uuid);
    assert.equal(r.key.sendParentUuid, u.parent?.uuid ?? null);
    assert.equal(r.key.sourceUuid, SOURCE_UUID);
    assert.equal(r.key.name, "src");
    assert.equal(r.key.seqn, 0);
  }
  assert.match(
    sp.uploads[0].key,
    /^src\.ctim2024-05-01T03:00:00-07:00\.ctid1\./,
  );
});

Deno.test("uploads come parents first, even when the parent is only an ancestor", () => {
  const sp = plan(input({
    now: "2024-02-02T12:00:00Z",
    snapshots: [
      snap("2024-01-28T10:00:00Z", 1),
      snap("2024-01-29T10:00:00Z", 2),
      snap("2024-02-02T10:00:00Z", 3),
    ],
    remotes: [{ preserve: "1m 1w 1d" }],
  })).sources[0];
  const order = sp.uploads.map((u) => u.snapshot.ctransid);
  for (const u of sp.uploads) {
    if (u.parent) {
      assert.ok(
        order.indexOf(u.parent.ctransid) < order.indexOf(u.snapshot.ctransid),
      );
    }
  }
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("several remotes of one source: a snapshot is kept if any remote keeps it; uploads and deletes per remote", () => {
  const inp = input({
    now: "2024-05-03T12:00:00Z",
    snapshots: [
      snap("2024-05-01T10:00:00Z", 1),
      snap("2024-05-02T10:00:00Z", 2),
      snap("2024-05-03T10:00:00Z", 3),
    ],
    remotes: [
      {
        id: "short",
        preserve: "1d",
        backups: [backup("2024-05-01T10:00:00Z", 1, null)],
      },
      { id: "long", preserve: "3d", keySuffixes: ["gz"] },
    ],
  });
  const sp = plan(inp).sources[0];
  assert.deepEqual(sp.snapshots.map((v) => v.keep), [true, true, true]);
  assert.deepEqual(sp.snapshots[0].reasons, [{
    kind: "interval",
    unit: "d",
    label: "2024-05-01",
    remoteId: "long",
  }]);
  assert.deepEqual(
    sp.uploads.map((u) => [u.remoteId, u.snapshot.ctransid]),
    [["long", 1], ["long", 2], ["short", 3], ["long", 3]],
  );
  assert.deepEqual(sp.deletes.map((d) => [d.remoteId, d.backup.ctransid]), [[
    "short",
    1,
  ]]);
  assert.deepEqual(sp.destroys, []);
  const most = sp.snapshots[2].reasons;
  assert.deepEqual(
    most.filter((r) => r.kind === "most-recent").map((r) => r.remoteId),
    [
      "short",
      "long",
    ],
  );
  let n = 100;
  assert.ok(
    isEmptyPlan(plan(applyPlanInMemory(inp, plan(inp), () => uuid(++n)))),
  );
});

Deno.test("a broken chain is repaired, never extended: the snapshot is uploaded again and the broken backups go after it", () => {
  const inp = input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [snap("2024-05-02T10:00:00Z", 3)],
    remotes: [{
      preserve: "2d",
      backups: [
        backup("2024-05-01T10:00:00Z", 2, 1),
        backup("2024-05-02T10:00:00Z", 3, 2),
      ],
    }],
  });
  const sp = plan(inp).sources[0];
  // 2 was sent against 1, which is gone entirely; 3 against 2: neither can be restored.
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]),
    [[3, null]],
  );
  assert.deepEqual(newVerdict(sp, 3).flags, ["new", "repair"]);
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [2, 3]);
  const broken = sp.backups.filter((v) => v.flags.includes("broken"));
  assert.deepEqual(broken.map((v) => verdictFacts(v).ctransid), [2, 3]);
  assert.ok(broken.every((v) => !v.keep));
  assert.ok(
    sp.warnings.some((w) =>
      new RegExp(`cannot be restored: it was sent against ${uuid(1)}`).test(w)
    ),
    sp.warnings.join("\n"),
  );
  // Carried out, the next run has nothing to repair.
  const after = applyPlanInMemory(inp, plan(inp), () => uuid(99));
  assert.ok(isEmptyPlan(plan(after)));
});

Deno.test("full <- S2 <- S3 with S2's backup gone and its snapshot destroyed: S3 is sent again from the full", () => {
  const inp = input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [
      snap("2024-05-01T09:00:00Z", 1),
      snap("2024-05-01T11:00:00Z", 3),
    ],
    remotes: [{
      preserve: "1y 1d",
      backups: [
        backup("2024-05-01T09:00:00Z", 1, null),
        backup("2024-05-01T11:00:00Z", 3, 2),
      ],
    }],
  });
  const sp = plan(inp).sources[0];
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]),
    [[3, 1]],
  );
  assert.deepEqual(newVerdict(sp, 3).flags, ["new", "repair"]);
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [3]);
  assert.deepEqual(sp.destroys, []);
  const after = applyPlanInMemory(inp, plan(inp), () => uuid(99));
  const remote = after.sources[0].remotes[0];
  assert.deepEqual(
    remote.backups.map((b) => [b.ctransid, b.sendParentUuid]),
    [[1, null], [3, uuid(1)]],
  );
  assert.ok(isEmptyPlan(plan(after)));
});

Deno.test("a send parent is never taken from a broken chain: the parent is uploaded again first", () => {
  const sp = plan(input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [
      snap("2024-01-01T09:00:00Z", 2),
      snap("2024-05-01T11:00:00Z", 3),
    ],
    remotes: [{
      preserve: "1y",
      // The yearly's backup was sent against a snapshot that no longer exists anywhere.
      backups: [backup("2024-01-01T09:00:00Z", 2, 1)],
    }],
  })).sources[0];
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]),
    [[2, null], [3, 2]],
  );
  assert.deepEqual(newVerdict(sp, 2).flags, ["new", "repair"]);
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [2]);
});

Deno.test("a kept backup whose parent's backup is missing gets the parent uploaded again from its snapshot before it is destroyed", () => {
  const inp = input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [
      snap("2024-05-01T09:00:00Z", 1),
      snap("2024-05-01T10:00:00Z", 2),
      snap("2024-05-01T11:00:00Z", 3),
    ],
    remotes: [{
      preserve: "1d",
      backups: [
        backup("2024-05-01T09:00:00Z", 1, null),
        backup("2024-05-01T11:00:00Z", 3, 2),
      ],
    }],
  });
  const sp = plan(inp).sources[0];
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]),
    [[2, 1]],
  );
  assert.deepEqual(newVerdict(sp, 2).flags, ["new", "repair"]);
  assert.deepEqual(newVerdict(sp, 2).reasons, [{
    kind: "ancestor",
    remoteId: "r0",
  }]);
  assert.deepEqual(sp.deletes, []);
  // Snapshot 2 is only an ancestor: destroyed, after the upload (the executor's order).
  assert.deepEqual(sp.destroys.map((s) => s.ctransid), [2]);
  assert.ok(sp.warnings.some((w) => /uploading it again .*\(repair\)/.test(w)));
  const after = applyPlanInMemory(inp, plan(inp), () => uuid(99));
  assert.ok(isEmptyPlan(plan(after)));
});

Deno.test("foreign snapshots of the source are listed, never renamed, destroyed or sent against", () => {
  const foreign = [
    snap("2024-05-01T11:30:00Z", 5, "/snaps/before-upgrade"),
    snap("2024-05-01T11:40:00Z", 6, "/snaps/src.20240501T1140"),
  ];
  const sp = plan(input({
    now: "2024-05-03T12:00:00Z",
    snapshots: [snap("2024-05-01T10:00:00Z", 1), ...foreign],
    remotes: [{ preserve: "" }],
    source: { ctransid: 6, ctime: "2024-05-01T11:40:00Z" },
  })).sources[0];
  assert.deepEqual(sp.foreign, foreign);
  // The newest snapshot is foreign: the source still gets a snapshot of its own.
  assert.equal(sp.createSnapshot?.ctransid, 6);
  assert.deepEqual(sp.destroys.map((s) => s.ctransid), [1]);
  assert.deepEqual(sp.renames, []);
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.uuid, u.parent]),
    [[PENDING_UUID, null]],
  );
  assert.ok(
    sp.snapshots.every((v) =>
      v.snapshot.ctransid < 5 || v.snapshot.uuid === PENDING_UUID
    ),
  );
});

Deno.test("two objects claiming one snapshot uuid are warned about and share one fate", () => {
  const full = backup("2024-05-01T10:00:00Z", 1, null);
  const dup = backup("2024-05-01T10:00:00Z", 1, null, { suffixes: ["gz"] });
  dup.keys = [encodeKey({ ...dup, seqn: 0 }, "UTC")];
  const kept = plan(input({
    now: "2024-05-01T12:00:00Z",
    snapshots: [snap("2024-05-01T10:00:00Z", 1)],
    remotes: [{ preserve: "1d", backups: [full, dup] }],
  })).sources[0];
  assert.equal(kept.deletes.length, 0);
  assert.equal(kept.uploads.length, 0);
  assert.ok(
    kept.warnings.some((w) => /2 backups .* claim snapshot uuid/.test(w)),
    kept.warnings.join(),
  );
  const dropped = plan(input({
    now: "2024-05-03T12:00:00Z",
    snapshots: [snap("2024-05-03T10:00:00Z", 5)],
    remotes: [{ preserve: "1d", backups: [full, dup] }],
  })).sources[0];
  assert.equal(dropped.deletes.length, 2);
});

Deno.test("backups of another source are never planned or deleted", () => {
  const other = backup("2024-05-01T10:00:00Z", 1, null, {
    sourceUuid: "eeeeeeee-0000-4000-8000-000000000000",
  });
  const sp = plan(input({
    now: "2024-05-03T12:00:00Z",
    snapshots: [snap("2024-05-03T10:00:00Z", 5)],
    remotes: [{ preserve: "1d", backups: [other] }],
  })).sources[0];
  assert.deepEqual(sp.deletes, []);
  assert.ok(sp.warnings.some((w) => w.includes("of another source")));
});

Deno.test("the plan is deterministic: shuffled inventories give the same plan", () => {
  const snapshots: SnapshotRef[] = [];
  const backups: BackupInfo[] = [];
  for (let i = 1; i <= 60; i++) {
    const iso = Temporal.Instant.from("2024-01-01T00:00:00Z").add({
      hours: 13 * i,
    }).toString();
    snapshots.push(snap(iso, i));
    if (i % 3 === 0) backups.push(backup(iso, i, null));
  }
  const a = input({
    now: "2024-02-05T00:00:00Z",
    snapshots,
    remotes: [{ preserve: "1m 2w 5d", backups }],
  });
  const shuffle = <T>(xs: T[]): T[] =>
    xs.map((x, i) => [(i * 7919) % 61, x] as const).sort((p, q) => p[0] - q[0])
      .map((p) => p[1]);
  const b = input({
    now: "2024-02-05T00:00:00Z",
    snapshots: shuffle(snapshots),
    remotes: [{ preserve: "1m 2w 5d", backups: shuffle(backups) }],
  });
  assert.deepEqual(plan(a), plan(b));
  const sp = plan(a).sources[0];
  const ct = sp.destroys.map((s) => s.ctransid);
  assert.deepEqual(ct, [...ct].sort((x, y) => x - y));
  const bv = sp.backups.map((v) => verdictFacts(v).ctransid);
  assert.deepEqual(bv, [...bv].sort((x, y) => x - y));
});

Deno.test("a bad policy fails with the source, the remote and the bad token", () => {
  assert.throws(
    () =>
      plan(input({
        now: "2024-05-01T12:00:00Z",
        snapshots: [],
        remotes: [{ id: "aws", preserve: "1d 1y" }],
        source: { ctransid: 1, ctime: "2024-05-01T12:00:00Z" },
      })),
    (e: unknown) =>
      e instanceof PolicySyntaxError && /remote aws/.test(e.message) &&
      /"1y"/.test(e.message),
  );
});

Deno.test("an unknown time zone is refused with a hint", () => {
  assert.throws(
    () =>
      plan(input({
        now: "2024-05-01T12:00:00Z",
        snapshots: [],
        remotes: [{}],
        timeZone: "PST",
        source: { ctransid: 1, ctime: "2024-05-01T12:00:00Z" },
      })),
    /unknown time zone "PST".*IANA/,
  );
});

Deno.test("the reasons say which interval, most recent and ancestor; flags say new and replacing newer", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [
      snap("2024-05-02T01:00:00Z", 10),
      snap("2024-05-02T02:00:00Z", 11),
    ],
    remotes: [{
      id: "s3",
      preserve: "1d",
      backups: [backup("2024-05-02T03:00:00Z", 12, null)],
    }],
  })).sources[0];
  const up10 = newVerdict(sp, 10);
  assert.deepEqual(up10.flags, ["new", "replacing-newer"]);
  assert.deepEqual(up10.reasons, [{
    kind: "interval",
    unit: "d",
    label: "2024-05-02",
    remoteId: "s3",
  }]);
  assert.equal(up10.upload.replacingNewer, true);
  const up11 = newVerdict(sp, 11);
  assert.deepEqual(up11.reasons, [{ kind: "most-recent", remoteId: "s3" }]);
  assert.deepEqual(up11.flags, ["new"]);
  assert.equal(up11.upload.parent?.ctransid, 10);
  // The newer backup of the day is not kept: nothing refers to it.
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [12]);
});

Deno.test("uploads name their snapshot and parent by the path they have after the renames", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [
      snap("2024-05-01T10:00:00Z", 1, "/snaps/src.NEW.11"),
      snap("2024-05-02T10:00:00Z", 2, "/snaps/src.2024-05-02T12:00:00+02:00.2"),
    ],
    remotes: [{ preserve: "1m 2d" }],
  })).sources[0];
  assert.deepEqual(sp.renames.map((r) => r.to), [
    "/snaps/src.2024-05-01T10:00:00+00:00.1",
    "/snaps/src.2024-05-02T10:00:00+00:00.2",
  ]);
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.path, u.parent?.path ?? null]),
    [
      ["/snaps/src.2024-05-01T10:00:00+00:00.1", null],
      [
        "/snaps/src.2024-05-02T10:00:00+00:00.2",
        "/snaps/src.2024-05-01T10:00:00+00:00.1",
      ],
    ],
  );
});

Deno.test("units absent from the policy are skipped: under 1y 1d a daily is sent against the yearly", () => {
  const sp = plan(input({
    now: "2024-03-06T12:00:00Z",
    snapshots: [
      snap("2024-01-01T10:00:00Z", 1),
      snap("2024-03-05T10:00:00Z", 2),
      snap("2024-03-06T10:00:00Z", 3),
    ],
    remotes: [{ preserve: "1y 1d" }],
  })).sources[0];
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent?.ctransid ?? null]),
    [
      [1, null],
      [3, 1],
    ],
  );
  assert.deepEqual(sp.destroys.map((s) => s.ctransid), [2]);
});

function newVerdict(sp: SourcePlan, ctransid: number): NewBackupVerdict {
  const v = sp.backups.find((v) =>
    v.kind === "new" && v.upload.snapshot.ctransid === ctransid
  );
  assert.ok(v?.kind === "new", `no planned upload of ctransid ${ctransid}`);
  return v;
}

Deno.test("a send-parent cycle without a full backup is broken: deleted, never a parent, no hang", () => {
  const sp = plan(input({
    now: "2024-05-02T12:00:00Z",
    snapshots: [snap("2024-05-02T10:00:00Z", 5)],
    remotes: [{
      preserve: "2d",
      backups: [
        backup("2024-05-01T10:00:00Z", 2, 3),
        backup("2024-05-01T11:00:00Z", 3, 2),
      ],
    }],
  })).sources[0];
  assert.deepEqual(sp.deletes.map((d) => d.backup.ctransid), [2, 3]);
  assert.deepEqual(
    sp.uploads.map((u) => [u.snapshot.ctransid, u.parent]),
    [[5, null]],
  );
});
