/**
 * The planner: a pure function from inventory, policy and time to a Plan.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import { encodeKey } from "../keys.ts";
import { massDeletions } from "./guards.ts";
import { isManagedSnapshotName, snapshotName } from "../snapshot_names.ts";
import { parsePolicy, type Policy, UNITS } from "../policy/grammar.ts";
import { IntervalCalendar } from "../policy/intervals.ts";
import {
  type NewBackup,
  resolve,
  type ResolveResult,
} from "../policy/resolve.ts";
import { planColdStorage } from "./cold_storage.ts";
import {
  type BackupVerdict,
  type ExistingBackupVerdict,
  type KeepReason,
  type NewBackupVerdict,
  PENDING_UUID,
  type Plan,
  type PlanInput,
  type RemoteInventory,
  type SourceInventory,
  type SourcePlan,
  type Upload,
  verdictFacts,
} from "./plan.ts";
import { baseName, compareStrings } from "../text.ts";

/**
 * Plan one run: whether to snapshot each source, which snapshots to rename,
 * which backups to upload (parents first, each with its send parent), which
 * snapshots to destroy and which backups to delete. Pure and deterministic;
 * lists are sorted. Planning again after carrying a plan out, with nothing
 * else changed, yields a plan with no actions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plan } from "./planner.ts";
 * const now = Temporal.Instant.from("2024-05-01T12:00:00Z");
 * const p = plan({
 *   timeZone: "UTC",
 *   now,
 *   sources: [{
 *     path: "/data/home", name: "home", uuid: "aaaaaaaa-0000-0000-0000-000000000001",
 *     ctransid: 10, ctime: now, snapshotDir: "/data/snaps", snapshots: [],
 *     remotes: [{ id: "s3", preserve: "1y 3m 30d 24h", keySuffixes: [], backups: [] }],
 *   }],
 * });
 * assert.ok(p.sources[0].createSnapshot?.path === "/data/snaps/home.2024-05-01T12:00:00+00:00.10");
 * assert.ok(p.sources[0].uploads.length === 1 && p.sources[0].uploads[0].parent === null);
 * ```
 * @throws {PolicySyntaxError} for a bad policy string; {RangeError} for an unknown time zone.
 */
export function plan(input: PlanInput): Plan {
  const calendar = IntervalCalendar.get(input.timeZone);
  return {
    timeZone: input.timeZone,
    now: input.now,
    sources: input.sources.map((src) => _planSource(input, calendar, src)),
  };
}

/** What every step of one source's planning reads. */
interface _Source {
  inv: SourceInventory;
  timeZone: string;
  calendar: IntervalCalendar;
  now: Temporal.Instant;
  /** The snapshot directory without a trailing slash. */
  snapshotDir: string;
  /** Existing managed snapshots, sorted. */
  existing: SnapshotRef[];
  /** Existing snapshots with names that are not ours, sorted. */
  foreign: SnapshotRef[];
  warnings: string[];
}

/** One remote's share of a source plan. */
interface _RemotePlan {
  /** Kept snapshots by uuid, with why. */
  keptSnaps: Map<string, KeepReason[]>;
  /** Verdicts, existing and planned, sorted. */
  verdicts: BackupVerdict[];
  uploads: Upload[];
  retentions: SourcePlan["retentions"];
  deletes: SourcePlan["deletes"];
}

function _planSource(
  input: PlanInput,
  calendar: IntervalCalendar,
  inv: SourceInventory,
): SourcePlan {
  const sorted = _sorted(inv.snapshots, _bySnapshot);
  const managed = (s: SnapshotRef) =>
    isManagedSnapshotName(baseName(s.path), inv.name);
  const src: _Source = {
    inv,
    timeZone: input.timeZone,
    calendar,
    now: input.now,
    snapshotDir: _stripSlash(inv.snapshotDir),
    existing: sorted.filter(managed),
    foreign: sorted.filter((s) => !managed(s)),
    warnings: [],
  };
  const createSnapshot = _pendingSnapshot(src);
  const all = createSnapshot ? [...src.existing, createSnapshot] : src.existing;
  const remotes = inv.remotes.map((r) => _planRemote(src, r, all));
  const kept = _keptSnapshots(src, all, remotes);
  const renames = _renames(src, all, kept);
  const uploads = _orderUploads(remotes);
  _pointAtRenamed(uploads, renames);
  const removals = {
    destroys: src.existing.filter((s) => !kept.has(s.uuid)),
    retentions: remotes.flatMap((r) => r.retentions),
    deletes: remotes.flatMap((r) => r.deletes),
    snapshots: all.map((s) => ({
      snapshot: s,
      keep: kept.has(s.uuid),
      reasons: _sortReasons(kept.get(s.uuid) ?? [], inv),
    })),
    backups: remotes.flatMap((r) => r.verdicts),
  };
  return {
    path: inv.path,
    name: inv.name,
    uuid: inv.uuid,
    snapshotDir: inv.snapshotDir,
    createSnapshot,
    foreign: src.foreign,
    renames,
    uploads,
    ...removals,
    massDeletions: massDeletions(removals),
    warnings: [...new Set(src.warnings)],
  };
}

/** The snapshot to create: only when the source changed since the newest snapshot. */
function _pendingSnapshot(src: _Source): SnapshotRef | null {
  const { inv, existing } = src;
  if (!existing.every((s) => inv.ctransid > s.ctransid)) return null;
  const name = snapshotName(inv.name, inv.ctime, inv.ctransid, src.timeZone);
  const pending: SnapshotRef = {
    uuid: PENDING_UUID,
    ctransid: inv.ctransid,
    ctime: inv.ctime,
    path: `${src.snapshotDir}/${name}`,
  };
  if ([...existing, ...src.foreign].some((s) => s.path === pending.path)) {
    src.warnings.push(
      `${pending.path} already exists as another snapshot; creating the new snapshot will fail`,
    );
  }
  return pending;
}

/** Resolve one remote's policy and turn the result into verdicts, uploads and deletes. */
function _planRemote(
  src: _Source,
  remote: RemoteInventory,
  all: readonly SnapshotRef[],
): _RemotePlan {
  const backups = _backupsOfSource(src, remote);
  const policy = _policyOf(src, remote);
  const r = resolve({
    policy,
    calendar: src.calendar,
    now: src.now,
    remoteId: remote.id,
    snapshots: all,
    backups,
  });
  src.warnings.push(...r.warnings);
  const existing = backups.map((b) => _existingVerdict(src, remote, b, r));
  const planned = [...r.uploads.values()].map((nb) =>
    _newVerdict(src, remote, nb)
  );
  const verdicts = _mergeSorted(existing, planned.sort(_byVerdict), _byVerdict);
  // Storage classes and object lock: classes of uploads, retentions, deletes a lock defers.
  const cold = planColdStorage({
    remote,
    policy,
    calendar: src.calendar,
    now: src.now,
    timeZone: src.timeZone,
    sourceName: src.inv.name,
    verdicts,
  });
  src.warnings.push(...cold.warnings);
  return {
    keptSnaps: r.snapshots,
    verdicts,
    uploads: planned.map((v) => v.upload),
    retentions: cold.retentions,
    deletes: existing.filter((v) =>
      !v.keep && !cold.deferred.has(v.backup.uuid)
    ).map((v) => ({
      remoteId: remote.id,
      backup: v.backup,
    })),
  };
}

function _policyOf(src: _Source, remote: RemoteInventory): Policy {
  try {
    return parsePolicy(remote.preserve);
  } catch (e) {
    if (e instanceof Error) {
      e.message = `source ${src.inv.path}, remote ${remote.id}: ${e.message}`;
    }
    throw e;
  }
}

/** The remote's backups of this source, sorted; others are warned about and left alone. */
function _backupsOfSource(src: _Source, remote: RemoteInventory): BackupInfo[] {
  return _sorted(remote.backups, _byBackup).filter((b) => {
    if (b.sourceUuid === src.inv.uuid) return true;
    src.warnings.push(
      `remote ${remote.id}: ignoring backup ${
        b.keys[0]
      } of another source (${b.sourceUuid})`,
    );
    return false;
  });
}

function _existingVerdict(
  src: _Source,
  remote: RemoteInventory,
  backup: BackupInfo,
  r: ResolveResult,
): ExistingBackupVerdict {
  const keep = r.broken.has(backup) ? undefined : r.backups.get(backup.uuid);
  return {
    kind: "existing",
    remoteId: remote.id,
    backup,
    keep: keep !== undefined,
    reasons: keep ? _sortReasons(keep.reasons, src.inv) : [],
    flags: keep
      ? _sortFlags(keep.flags)
      : r.broken.has(backup)
      ? ["broken"]
      : [],
  };
}

function _newVerdict(
  src: _Source,
  remote: RemoteInventory,
  nb: NewBackup,
): NewBackupVerdict {
  const reasons = _sortReasons(nb.reasons, src.inv);
  const upload: Upload = {
    remoteId: remote.id,
    snapshot: nb.snapshot,
    parent: nb.parent,
    key: encodeKey({
      name: src.inv.name,
      ctime: nb.snapshot.ctime,
      ctransid: nb.snapshot.ctransid,
      uuid: nb.snapshot.uuid,
      sendParentUuid: nb.parent?.uuid ?? null,
      sourceUuid: src.inv.uuid,
      seqn: 0,
      suffixes: remote.keySuffixes,
    }, src.timeZone),
    reasons,
    replacingNewer: nb.flags.includes("replacing-newer"),
    repair: nb.flags.includes("repair"),
  };
  return {
    kind: "new",
    remoteId: remote.id,
    upload,
    keep: true,
    reasons,
    flags: _sortFlags(nb.flags),
  };
}

/** Snapshots any remote keeps (all of them when the source has no remotes). */
function _keptSnapshots(
  src: _Source,
  all: readonly SnapshotRef[],
  remotes: readonly _RemotePlan[],
): Map<string, KeepReason[]> {
  const kept = new Map<string, KeepReason[]>();
  if (remotes.length === 0) {
    src.warnings.push(
      `source ${src.inv.path} has no remotes: keeping all its snapshots`,
    );
    for (const s of all) kept.set(s.uuid, []);
  }
  for (const r of remotes) {
    for (const [uuid, reasons] of r.keptSnaps) {
      const cur = kept.get(uuid);
      if (cur === undefined) kept.set(uuid, [...reasons]);
      else cur.push(...reasons);
    }
  }
  return kept;
}

/** Kept snapshots whose base name is not canonical; never onto another snapshot's path. */
function _renames(
  src: _Source,
  all: readonly SnapshotRef[],
  kept: ReadonlyMap<string, unknown>,
): SourcePlan["renames"] {
  const renames: SourcePlan["renames"] = [];
  const taken = new Set([...all, ...src.foreign].map((s) => s.path));
  for (const s of src.existing) {
    if (!kept.has(s.uuid)) continue;
    const slash = s.path.lastIndexOf("/");
    const dir = slash >= 0 ? s.path.slice(0, slash) : src.snapshotDir;
    const want = snapshotName(src.inv.name, s.ctime, s.ctransid, src.timeZone);
    if (s.path.slice(slash + 1) === want) continue;
    const to = `${dir}/${want}`;
    if (taken.has(to)) {
      src.warnings.push(
        `not renaming ${s.path}: ${to} is taken by another snapshot`,
      );
      continue;
    }
    taken.add(to);
    renames.push({ uuid: s.uuid, from: s.path, to });
  }
  return renames;
}

/** Every remote's uploads: parents before children (by snapshot), then in remote order. */
function _orderUploads(remotes: readonly _RemotePlan[]): Upload[] {
  return remotes.flatMap((r, remote) =>
    r.uploads.map((upload) => ({ upload, remote }))
  )
    .sort((a, b) =>
      _bySnapshot(a.upload.snapshot, b.upload.snapshot) || a.remote - b.remote
    ).map((u) => u.upload);
}

/** Uploads run after the renames: point them at the snapshots' new paths. */
function _pointAtRenamed(
  uploads: Upload[],
  renames: SourcePlan["renames"],
): void {
  if (renames.length === 0) return;
  const renamed = new Map(renames.map((r) => [r.uuid, r.to]));
  const moved = (s: SnapshotRef): SnapshotRef => {
    const to = renamed.get(s.uuid);
    return to === undefined ? s : { ...s, path: to };
  };
  for (const upload of uploads) {
    upload.snapshot = moved(upload.snapshot);
    if (upload.parent !== null) upload.parent = moved(upload.parent);
  }
}

/** Merge two sorted lists (the existing backups are many, the uploads few). */
function _mergeSorted<T>(
  a: readonly T[],
  b: readonly T[],
  cmp: (x: T, y: T) => number,
): T[] {
  const out: T[] = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && cmp(b[j], x) < 0) out.push(b[j++]);
    out.push(x);
  }
  while (j < b.length) out.push(b[j++]);
  return out;
}

/** A sorted copy; skips the sort when the input is already in order (the usual case). */
function _sorted<T>(xs: readonly T[], cmp: (a: T, b: T) => number): T[] {
  for (let i = 1; i < xs.length; i++) {
    if (cmp(xs[i - 1], xs[i]) > 0) return [...xs].sort(cmp);
  }
  return [...xs];
}

/** Order of backups within a remote: ctransid, then first key. */
function _byBackup(a: BackupInfo, b: BackupInfo): number {
  return a.ctransid - b.ctransid ||
    compareStrings(a.keys[0] ?? "", b.keys[0] ?? "");
}

function _byVerdict(a: BackupVerdict, b: BackupVerdict): number {
  const fa = verdictFacts(a);
  const fb = verdictFacts(b);
  return fa.ctransid - fb.ctransid || compareStrings(fa.key, fb.key);
}

/** Order of snapshots everywhere: ctransid, then ctime, then uuid. */
function _bySnapshot(a: SnapshotRef, b: SnapshotRef): number {
  return a.ctransid - b.ctransid ||
    Temporal.Instant.compare(a.ctime, b.ctime) ||
    compareStrings(a.uuid, b.uuid);
}

const _KIND_ORDER: Record<KeepReason["kind"], number> = {
  interval: 0,
  "no-snapshot": 1,
  "snapshot-is-newer": 2,
  "most-recent": 3,
  ancestor: 4,
};

function _sortReasons(
  reasons: readonly KeepReason[],
  src: SourceInventory,
): KeepReason[] {
  if (reasons.length <= 1) return [...reasons];
  const order = (id: string | undefined): number =>
    src.remotes.findIndex((r) => r.id === id);
  const keyed = new Map<string, { r: KeepReason; sort: (number | string)[] }>();
  for (const r of reasons) {
    const unit = "unit" in r && r.unit !== undefined
      ? UNITS.indexOf(r.unit)
      : -1;
    const label = "label" in r ? r.label ?? "" : "";
    const id = `${r.kind}\0${r.remoteId ?? ""}\0${unit}\0${label}`;
    if (!keyed.has(id)) {
      keyed.set(id, {
        r,
        sort: [order(r.remoteId), _KIND_ORDER[r.kind], unit, label],
      });
    }
  }
  return [...keyed.values()].sort((a, b) => {
    for (let i = 0; i < 4; i++) {
      const x = a.sort[i];
      const y = b.sort[i];
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }).map((e) => e.r);
}

const _FLAG_ORDER = [
  "new",
  "replacing-newer",
  "no-snapshot",
  "snapshot-is-newer",
  "repair",
  "broken",
] as const;

function _sortFlags<T extends typeof _FLAG_ORDER[number]>(flags: T[]): T[] {
  return [...new Set(flags)].sort((a, b) =>
    _FLAG_ORDER.indexOf(a) - _FLAG_ORDER.indexOf(b)
  );
}

function _stripSlash(p: string): string {
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}
