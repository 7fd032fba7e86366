/**
 * Carries out a Plan in the safe order: snapshot → renames → uploads →
 * retention extensions → destroys → deletes. A failed upload stops the run before anything is
 * destroyed or deleted, across every source, so a failure never costs a
 * backup or a snapshot.
 *
 * @module
 */

import { newSnapshotName, snapshotName } from "../snapshot_names.ts";
import type { BackupInfo, SnapshotRef } from "../types.ts";
import { Zone } from "../zone.ts";
import {
  PENDING_UUID,
  type Plan,
  type RetentionExtension,
  type SourcePlan,
  type Upload,
} from "./plan.ts";
import { baseName } from "../text.ts";

/** The side effects the executor needs; the btrfs driver and the remotes provide them. */
export interface ExecutorWorld {
  /** This process's id: new snapshots are made as `<name>.NEW.<pid>` first. */
  readonly pid: number;
  /** Creates a read-only snapshot of `source.path` at `<snapshotDir>/<name>` and reports it. */
  createSnapshot(source: SourcePlan, name: string): Promise<SnapshotRef>;
  /** Renames a snapshot (same directory). */
  rename(from: string, to: string): Promise<void>;
  /** Sends `upload.snapshot` (against `upload.parent`) through the remote's pipe into `key`. */
  upload(source: SourcePlan, upload: Upload, key: string): Promise<void>;
  /** Sets (or extends) the object lock retention of every object of a backup and of its manifest. */
  extendRetention(extension: RetentionExtension): Promise<void>;
  /** Destroys a snapshot. */
  destroy(snapshot: SnapshotRef): Promise<void>;
  /** Deletes every object of a backup (and its manifest). */
  deleteBackup(remoteId: string, backup: BackupInfo): Promise<void>;
  /** Final path of a snapshot: `<snapshotDir>/<name>.<ctime ISO>.<ctransid>`. */
  snapshotPath(source: SourcePlan, snapshot: SnapshotRef): string;
  /** Key for an upload whose snapshot became real (the pending uuid, ctime and ctransid filled in). */
  rekey(upload: Upload, snapshot: SnapshotRef, source: SourcePlan): string;
  /**
   * One line per action, naming snapshots and backups by their short name;
   * `detail` has the full paths and keys, for verbose logs.
   */
  log(line: string, detail?: string): void;
}

/** What happened. */
export interface ExecuteReport {
  /** Snapshots created (at their final names). */
  created: SnapshotRef[];
  /** Snapshots renamed. */
  renamed: number;
  /** `<remote>:<key>` of every backup uploaded. */
  uploaded: string[];
  /** Backups whose retention was set or extended. */
  retained: number;
  /** Snapshots destroyed. */
  destroyed: number;
  /** Backups deleted. */
  deleted: number;
  /** The first failure; when it happened before the destroys, nothing was destroyed or deleted. */
  error?: Error;
}

/**
 * Executes a plan.
 *
 * @param plan The plan from the planner.
 * @param world The side effects.
 * @returns What was done; `error` set when the run stopped early.
 */
export async function executePlan(
  plan: Plan,
  world: ExecutorWorld,
): Promise<ExecuteReport> {
  const report: ExecuteReport = {
    created: [],
    renamed: 0,
    uploaded: [],
    retained: 0,
    destroyed: 0,
    deleted: 0,
  };
  try {
    for (const source of plan.sources) {
      let pending: SnapshotRef | null = null;
      if (source.createSnapshot) {
        const made = await world.createSnapshot(
          source,
          newSnapshotName(source.name, world.pid),
        );
        // Writes between planning and snapshotting move ctime/ctransid on; name it by what it holds.
        const finalPath = world.snapshotPath(source, made);
        await world.rename(made.path, finalPath);
        pending = { ...made, path: finalPath };
        report.created.push(pending);
        world.log(`created snapshot ${baseName(finalPath)}`, finalPath);
      }
      for (const r of source.renames) {
        await world.rename(r.from, r.to);
        report.renamed++;
        world.log(
          `renamed ${baseName(r.from)} -> ${baseName(r.to)}`,
          `${r.from} -> ${r.to}`,
        );
      }
      for (const planned of source.uploads) {
        const upload = _resolvePending(planned, pending);
        const key = planned.snapshot.uuid === PENDING_UUID && pending
          ? world.rekey(upload, pending, source)
          : planned.key;
        world.log(
          `uploading ${baseName(upload.snapshot.path)} to ${upload.remoteId}` +
            (upload.parent
              ? ` (differential from ${baseName(upload.parent.path)})`
              : " (full)"),
          `key ${key}`,
        );
        await world.upload(source, upload, key);
        report.uploaded.push(`${upload.remoteId}:${key}`);
      }
      for (const r of source.retentions ?? []) {
        await world.extendRetention(r);
        report.retained++;
        const b = r.backup;
        world.log(
          `retained ${
            snapshotName(b.name, b.ctime, b.ctransid, plan.timeZone)
          } in ${r.remoteId} until ${
            Zone.get(plan.timeZone).formatIso(r.to.until.epochMilliseconds)
          } (${r.to.mode})`,
          `key ${b.keys[0]}`,
        );
      }
    }
  } catch (e) {
    report.error = e instanceof Error ? e : new Error(String(e));
    world.log(
      `stopped: ${report.error.message}; nothing was destroyed or deleted`,
    );
    return report;
  }
  try {
    for (const source of plan.sources) {
      for (const s of source.destroys) {
        await world.destroy(s);
        report.destroyed++;
        world.log(`destroyed snapshot ${baseName(s.path)}`, s.path);
      }
      for (const d of source.deletes) {
        await world.deleteBackup(d.remoteId, d.backup);
        report.deleted++;
        const b = d.backup;
        world.log(
          `deleted backup ${
            snapshotName(b.name, b.ctime, b.ctransid, plan.timeZone)
          } from ${d.remoteId}`,
          `key ${b.keys[0]}`,
        );
      }
    }
  } catch (e) {
    report.error = e instanceof Error ? e : new Error(String(e));
    world.log(`stopped: ${report.error.message}`);
  }
  return report;
}

function _resolvePending(upload: Upload, pending: SnapshotRef | null): Upload {
  if (!pending) return upload;
  const swap = (s: SnapshotRef): SnapshotRef =>
    s.uuid === PENDING_UUID ? pending : s;
  return {
    ...upload,
    snapshot: swap(upload.snapshot),
    parent: upload.parent && swap(upload.parent),
  };
}
