/**
 * The planner: a pure function from inventory, policy and time to a Plan.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import { encodeKey } from "../keys.ts";
import { snapshotName } from "../snapshot_names.ts";
import { parsePolicy, type Policy, UNITS } from "../policy/grammar.ts";
import { IntervalCalendar } from "../policy/intervals.ts";
import { type BackupKeep, resolve } from "../policy/resolve.ts";
import {
  type BackupVerdict,
  type KeepReason,
  PENDING_UUID,
  type Plan,
  type PlanInput,
  type SnapshotVerdict,
  type SourceInventory,
  type SourcePlan,
  type Upload,
} from "./plan.ts";

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

function _planSource(
  input: PlanInput,
  calendar: IntervalCalendar,
  src: SourceInventory,
): SourcePlan {
  const tz = input.timeZone;
  const warnings: string[] = [];
  const snapshotDir = _stripSlash(src.snapshotDir);
  const existing = _sorted(src.snapshots, _bySnapshot);

  let createSnapshot: SnapshotRef | null = null;
  if (existing.every((s) => src.ctransid > s.ctransid)) {
    createSnapshot = {
      uuid: PENDING_UUID,
      ctransid: src.ctransid,
      ctime: src.ctime,
      path: `${snapshotDir}/${
        snapshotName(src.name, src.ctime, src.ctransid, tz)
      }`,
    };
    if (existing.some((s) => s.path === createSnapshot!.path)) {
      warnings.push(
        `${createSnapshot.path} already exists as another snapshot; creating the new snapshot will fail`,
      );
    }
  }
  const all = createSnapshot ? [...existing, createSnapshot] : existing;

  const keptSnaps = new Map<string, KeepReason[]>();
  const backupVerdicts: BackupVerdict[] = [];
  const uploads: { upload: Upload; remote: number }[] = [];
  const deletes: { remoteId: string; backup: BackupInfo }[] = [];

  if (src.remotes.length === 0) {
    warnings.push(
      `source ${src.path} has no remotes: keeping all its snapshots`,
    );
    for (const s of all) keptSnaps.set(s.uuid, []);
  }

  src.remotes.forEach((remote, remoteIndex) => {
    let policy: Policy;
    try {
      policy = parsePolicy(remote.preserve);
    } catch (e) {
      if (e instanceof Error) {
        e.message = `source ${src.path}, remote ${remote.id}: ${e.message}`;
      }
      throw e;
    }
    const backups = _sorted(remote.backups, _byBackup).filter((b) => {
      if (b.sourceUuid === src.uuid) return true;
      warnings.push(
        `remote ${remote.id}: ignoring backup ${
          b.keys[0]
        } of another source (${b.sourceUuid})`,
      );
      return false;
    });
    const r = resolve({
      policy,
      calendar,
      now: input.now,
      remoteId: remote.id,
      snapshots: all,
      backups,
    });
    warnings.push(...r.warnings);
    for (const [uuid, reasons] of r.snapshots) {
      const cur = keptSnaps.get(uuid);
      if (cur === undefined) keptSnaps.set(uuid, [...reasons]);
      else cur.push(...reasons);
    }
    const existingVerdicts: BackupVerdict[] = [];
    const uploadVerdicts: BackupVerdict[] = [];
    for (const b of backups) {
      const keep: BackupKeep | undefined = r.backups.get(b.uuid);
      existingVerdicts.push({
        remoteId: remote.id,
        backup: b,
        upload: null,
        keep: keep !== undefined,
        reasons: keep ? _sortReasons(keep.reasons, src) : [],
        flags: keep ? _sortFlags(keep.flags) : [],
      });
      if (keep === undefined) deletes.push({ remoteId: remote.id, backup: b });
    }
    for (const nb of r.uploads.values()) {
      const reasons = _sortReasons(nb.reasons, src);
      const upload: Upload = {
        remoteId: remote.id,
        snapshot: nb.snapshot,
        parent: nb.parent,
        key: encodeKey({
          name: src.name,
          ctime: nb.snapshot.ctime,
          ctransid: nb.snapshot.ctransid,
          uuid: nb.snapshot.uuid,
          sendParentUuid: nb.parent?.uuid ?? null,
          sourceUuid: src.uuid,
          seqn: 0,
          suffixes: remote.keySuffixes,
        }, tz),
        reasons,
        replacingNewer: nb.flags.includes("replacing-newer"),
      };
      uploads.push({ upload, remote: remoteIndex });
      uploadVerdicts.push({
        remoteId: remote.id,
        backup: null,
        upload,
        keep: true,
        reasons,
        flags: _sortFlags(nb.flags),
      });
    }
    // Existing backups are already in order; merge the few uploads in.
    uploadVerdicts.sort(_byVerdict);
    let j = 0;
    for (const v of existingVerdicts) {
      while (
        j < uploadVerdicts.length && _byVerdict(uploadVerdicts[j], v) < 0
      ) {
        backupVerdicts.push(uploadVerdicts[j++]);
      }
      backupVerdicts.push(v);
    }
    while (j < uploadVerdicts.length) backupVerdicts.push(uploadVerdicts[j++]);
  });

  // Renames: kept snapshots whose base name is not canonical; never onto another snapshot's path.
  const renames: SourcePlan["renames"] = [];
  const taken = new Set(all.map((s) => s.path));
  for (const s of existing) {
    if (!keptSnaps.has(s.uuid)) continue;
    const slash = s.path.lastIndexOf("/");
    const dir = slash >= 0 ? s.path.slice(0, slash) : snapshotDir;
    const want = snapshotName(src.name, s.ctime, s.ctransid, tz);
    if (s.path.slice(slash + 1) === want) continue;
    const to = `${dir}/${want}`;
    if (taken.has(to)) {
      warnings.push(
        `not renaming ${s.path}: ${to} is taken by another snapshot`,
      );
      continue;
    }
    taken.add(to);
    renames.push({ uuid: s.uuid, from: s.path, to });
  }
  // Uploads run after the renames: point them at the snapshots' new paths.
  if (renames.length > 0) {
    const renamed = new Map(renames.map((r) => [r.uuid, r.to]));
    const moved = (s: SnapshotRef): SnapshotRef => {
      const to = renamed.get(s.uuid);
      return to === undefined ? s : { ...s, path: to };
    };
    for (const { upload } of uploads) {
      upload.snapshot = moved(upload.snapshot);
      if (upload.parent !== null) upload.parent = moved(upload.parent);
    }
  }

  const snapshots: SnapshotVerdict[] = all.map((s) => ({
    snapshot: s,
    keep: keptSnaps.has(s.uuid),
    reasons: _sortReasons(keptSnaps.get(s.uuid) ?? [], src),
  }));

  uploads.sort((a, b) =>
    _bySnapshot(a.upload.snapshot, b.upload.snapshot) || a.remote - b.remote
  );
  return {
    path: src.path,
    name: src.name,
    uuid: src.uuid,
    snapshotDir: src.snapshotDir,
    createSnapshot,
    renames,
    uploads: uploads.map((u) => u.upload),
    destroys: existing.filter((s) => !keptSnaps.has(s.uuid)),
    deletes,
    snapshots,
    backups: backupVerdicts,
    warnings: [...new Set(warnings)],
  };
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
  return a.ctransid - b.ctransid || _cmpStr(a.keys[0] ?? "", b.keys[0] ?? "");
}

function _byVerdict(a: BackupVerdict, b: BackupVerdict): number {
  const sa = a.backup ?? a.upload!.snapshot;
  const sb = b.backup ?? b.upload!.snapshot;
  return sa.ctransid - sb.ctransid ||
    _cmpStr(
      a.backup?.keys[0] ?? a.upload!.key,
      b.backup?.keys[0] ?? b.upload!.key,
    );
}

/** Order of snapshots everywhere: ctransid, then ctime, then uuid. */
function _bySnapshot(a: SnapshotRef, b: SnapshotRef): number {
  return a.ctransid - b.ctransid ||
    Temporal.Instant.compare(a.ctime, b.ctime) || _cmpStr(a.uuid, b.uuid);
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
] as const;

function _sortFlags<T extends typeof _FLAG_ORDER[number]>(flags: T[]): T[] {
  return [...new Set(flags)].sort((a, b) =>
    _FLAG_ORDER.indexOf(a) - _FLAG_ORDER.indexOf(b)
  );
}

function _cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function _stripSlash(p: string): string {
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}
