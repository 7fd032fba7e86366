/**
 * The Plan: what one `update` run will do, produced by the pure planner,
 * rendered by the preview and carried out by the executor.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import type { ObjectLock, StorageClasses } from "../config_types.ts";
import type { BackupFlag, KeepReason, Unit } from "../policy/vocabulary.ts";

export type { BackupFlag, KeepReason, Unit };

/** Placeholder uuid of the snapshot the run is about to create (`createSnapshot`). */
export const PENDING_UUID = "pending";

/** One remote of one source, as the planner sees it. */
export interface RemoteInventory {
  /** Remote id from the config. */
  id: string;
  /** Preservation policy string, e.g. `1y 3m 30d 24h`. */
  preserve: string;
  /** Suffixes new backup keys get from the pipe stages, e.g. `["zst", "age"]`. */
  keySuffixes: string[];
  /** Backups in this remote whose `.prnt` is the source's uuid. */
  backups: BackupInfo[];
  /** Retain objects until their backup's planned expiry; their `retainUntil` is then read. */
  objectLock?: ObjectLock;
  /** Storage class by the longest timeframe a new backup is kept for. */
  storageClasses?: StorageClasses;
  /** Storage class of new backups no `storageClasses` entry applies to (default: the store's). */
  storageClass?: string;
}

/** One source, as the planner sees it. */
export interface SourceInventory {
  /** Absolute path of the source subvolume. */
  path: string;
  /** Name used in snapshot names and keys: the source directory's base name. */
  name: string;
  /** The source subvolume's uuid. */
  uuid: string;
  /** The source's ctransid, read after a filesystem sync. */
  ctransid: number;
  /** The source's ctime, read after a filesystem sync. */
  ctime: Temporal.Instant;
  /** Absolute path of the snapshot directory. */
  snapshotDir: string;
  /**
   * Read-only snapshots of the source found in the snapshot directory. Only
   * those named `<name>.<ctime ISO>.<ctransid>` or `<name>.NEW.<pid>` are
   * managed; the planner lists the others as foreign and never touches them.
   */
  snapshots: SnapshotRef[];
  /** The remotes this source uploads to. */
  remotes: RemoteInventory[];
}

/** Everything the planner needs. */
export interface PlanInput {
  /** IANA timezone all intervals are computed in. */
  timeZone: string;
  /** The instant to plan for; the policy's intervals end with the one containing it. */
  now: Temporal.Instant;
  /** Every configured source with its snapshots and remotes. */
  sources: SourceInventory[];
}

/** Planner's verdict on one snapshot (existing or pending). */
export interface SnapshotVerdict {
  /** The snapshot. */
  snapshot: SnapshotRef;
  /** Whether any remote's policy keeps it. */
  keep: boolean;
  /** What keeps it (empty when not kept). */
  reasons: KeepReason[];
}

/** What a verdict on a backup (existing or planned) has either way. */
export interface BackupVerdictCommon {
  /** The remote the backup is in. */
  remoteId: string;
  /** Whether the policy keeps it. */
  keep: boolean;
  /** What keeps it (empty when not kept). */
  reasons: KeepReason[];
  /** Facts about the backup (new, replacing newer, ...). */
  flags: BackupFlag[];
  /**
   * When a kept backup is planned to expire: the end of the last interval
   * that keeps it, or of the last backup that needs it, plus the lock's
   * extra days (computed for remotes with object lock or storage classes).
   */
  expiry?: Temporal.Instant;
  /** A backup the policy drops whose object lock has not ended: not deleted before this. */
  lockedUntil?: Temporal.Instant;
}

/** Planner's verdict on a backup already in the remote. */
export interface ExistingBackupVerdict extends BackupVerdictCommon {
  /** Tag: an existing backup. */
  kind: "existing";
  /** The backup. */
  backup: BackupInfo;
}

/** Planner's verdict on a backup it plans to upload (always kept). */
export interface NewBackupVerdict extends BackupVerdictCommon {
  /** Tag: a planned upload. */
  kind: "new";
  /** The upload. */
  upload: Upload;
  /** A planned upload is kept. */
  keep: true;
}

/** Planner's verdict on one backup: existing, or planned as an upload. */
export type BackupVerdict = ExistingBackupVerdict | NewBackupVerdict;

/** The facts of a verdict's backup, whichever kind it is. */
export interface VerdictFacts {
  /** Uuid of the snapshot the backup is (or will be) of. */
  uuid: string;
  /** Its ctransid. */
  ctransid: number;
  /** Its ctime. */
  ctime: Temporal.Instant;
  /** Uuid of the send parent; null for a full backup. */
  sendParentUuid: string | null;
  /** First object key (a planned upload's key may hold {@link PENDING_UUID}). */
  key: string;
}

/** The facts of a verdict's backup, whichever kind it is. */
export function verdictFacts(v: BackupVerdict): VerdictFacts {
  if (v.kind === "existing") {
    const b = v.backup;
    return {
      uuid: b.uuid,
      ctransid: b.ctransid,
      ctime: b.ctime,
      sendParentUuid: b.sendParentUuid,
      key: b.keys[0] ?? "",
    };
  }
  const u = v.upload;
  return {
    uuid: u.snapshot.uuid,
    ctransid: u.snapshot.ctransid,
    ctime: u.snapshot.ctime,
    sendParentUuid: u.parent?.uuid ?? null,
    key: u.key,
  };
}

/** One planned backup. */
export interface Upload {
  /** Remote id to upload to. */
  remoteId: string;
  /** Snapshot to send (PENDING_UUID for the snapshot this run creates). */
  snapshot: SnapshotRef;
  /** Send parent snapshot (`btrfs send -p`), null for a full backup. May be PENDING_UUID never. */
  parent: SnapshotRef | null;
  /** Key of the first object (`.seqn0`); contains PENDING_UUID until the executor fills in the real uuid. */
  key: string;
  /** Why: "new", "replacing newer", "ancestor", ... */
  reasons: KeepReason[];
  /** True when this backup replaces a newer-ctransid backup of the same interval. */
  replacingNewer: boolean;
  /** True when this uploads again what a broken chain or a missing ancestor lost (a repair). */
  repair: boolean;
  /** Storage class to store it in (absent: the remote's or the store's default). */
  storageClass?: string;
  /** Object lock retention to set on its objects and manifest once they are stored. */
  lock?: Retention;
}

/** An object lock retention: a mode and the instant it ends. */
export interface Retention {
  /** GOVERNANCE or COMPLIANCE. */
  mode: ObjectLock["mode"];
  /** Objects may not be deleted before this instant. */
  until: Temporal.Instant;
}

/** A kept backup whose retention must be extended (or set) to its planned expiry. */
export interface RetentionExtension {
  /** Remote id. */
  remoteId: string;
  /** The backup (all its objects and its manifest get the retention). */
  backup: BackupInfo;
  /** The retention read from its first object, when it has one. */
  from?: Temporal.Instant;
  /** The new retention. */
  to: Retention;
}

/** What to do for one source. */
export interface SourcePlan {
  /** Absolute path of the source subvolume. */
  path: string;
  /** Name used in snapshot names and keys. */
  name: string;
  /** The source subvolume's uuid. */
  uuid: string;
  /** Absolute path of the snapshot directory. */
  snapshotDir: string;
  /** The snapshot to create first, or null. `path` is its final (renamed) path. */
  createSnapshot: SnapshotRef | null;
  /** Snapshots of the source that are not ours (other names): never renamed, destroyed or sent against. */
  foreign: SnapshotRef[];
  /** Managed snapshots whose name is not `<name>.<ctime ISO>.<ctransid>` in the plan's zone. */
  renames: { uuid: string; from: string; to: string }[];
  /** Parents before children. */
  uploads: Upload[];
  /** Snapshots to destroy. */
  destroys: SnapshotRef[];
  /** Kept backups whose object lock retention is extended (or set), after the uploads. */
  retentions: RetentionExtension[];
  /** Backups to delete (all their objects). */
  deletes: { remoteId: string; backup: BackupInfo }[];
  /** Verdict for every snapshot (including the pending one), sorted by ctransid. */
  snapshots: SnapshotVerdict[];
  /** Verdict for every backup per remote (existing and planned), sorted by ctransid. */
  backups: BackupVerdict[];
  /** Removals the mass-deletion guard stops unless allowed (see `massDeletions` in guards.ts). */
  massDeletions: MassDeletion[];
  /** Broken chains, duplicate uuids, and the like: never fatal. */
  warnings: string[];
}

/** A removal the mass-deletion guard stops. */
export type MassDeletion =
  | {
    /** More than half of one remote's backups of the source. */
    kind: "backups";
    /** The remote. */
    remoteId: string;
    /** Backups the plan deletes. */
    count: number;
    /** Backups of the source in the remote once the run's uploads are done. */
    total: number;
  }
  | {
    /** More than half of the source's snapshots, and more than 2. */
    kind: "snapshots";
    /** Snapshots the plan destroys. */
    count: number;
    /** The source's snapshots once the run's snapshot exists. */
    total: number;
  };

/** The whole plan; deterministic and sorted for a given input. */
export interface Plan {
  /** IANA timezone the plan was made in. */
  timeZone: string;
  /** The instant the plan was made for. */
  now: Temporal.Instant;
  /** One plan per source, in config order. */
  sources: SourcePlan[];
}

/** True when a plan has nothing to do. */
export function isEmptyPlan(p: Plan): boolean {
  return p.sources.every((s) =>
    s.createSnapshot === null && s.renames.length === 0 &&
    s.uploads.length === 0 && s.destroys.length === 0 &&
    s.deletes.length === 0 && s.retentions.length === 0
  );
}
