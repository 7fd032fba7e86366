/**
 * Carries out a Plan in the safe order: snapshot → renames → uploads →
 * retention extensions → destroys → deletes.
 *
 * Uploads of one snapshot with one send parent to several remotes go as one
 * group: one `btrfs send` feeds them all. A remote whose upload fails loses
 * only its own upload: the source's later uploads to that remote are skipped,
 * the other remotes go on. Then nothing is destroyed or deleted on its
 * account: the source keeps every snapshot (a snapshot the plan would destroy
 * may be the only way to make the failed backup again), and its backups on
 * the failed remote stay; backups on the source's other remotes are deleted
 * as planned (every upload to them completed, and each remote's policy stands
 * on its own). Sources with no failed upload run their plan in full. Any
 * other failure (creating or renaming a snapshot, a destroy, a delete) stops
 * the run there; one before the destroys means nothing is destroyed or
 * deleted at all.
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
  /**
   * Sends the snapshot of `targets` (against their parent: every target has
   * the same snapshot and send parent) once, through each target's remote
   * pipe into its key. Resolves with one outcome per target, in order: null
   * when the backup is stored, else the error (a failed target undid its own
   * upload; the others went on). Rejects only when nothing could start.
   */
  upload(
    source: SourcePlan,
    targets: readonly UploadTarget[],
  ): Promise<(Error | null)[]>;
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

/** One upload of a shared send: the planned upload and the key it goes to. */
export interface UploadTarget {
  /** The upload, its pending snapshot resolved. */
  upload: Upload;
  /** The `.seqn0` key. */
  key: string;
}

/** An upload that failed; the run went on without it. */
export interface FailedUpload {
  /** The remote. */
  remoteId: string;
  /** The key it was going to. */
  key: string;
  /** Why. */
  error: Error;
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
  /** Uploads that failed (the others went on). */
  failed: FailedUpload[];
  /** `<remote>:<key>` of uploads not tried: an earlier upload of the source to that remote failed. */
  skipped: string[];
  /** Planned destroys not done because an upload of the snapshot's source failed. */
  destroysSkipped: number;
  /** Planned deletes not done because an upload of the source to that remote failed. */
  deletesSkipped: number;
  /**
   * The first failure, set whenever the run did not do all it planned: a
   * failed upload (see `failed`), or another failure that stopped the run.
   */
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
    failed: [],
    skipped: [],
    destroysSkipped: 0,
    deletesSkipped: 0,
  };
  /** Per source (by path): the remotes an upload to failed. */
  const failedRemotes = new Map<string, Set<string>>();
  try {
    for (const source of plan.sources) {
      const failed = new Set<string>();
      failedRemotes.set(source.path, failed);
      await _uploadSource(source, plan.timeZone, world, report, failed);
    }
  } catch (e) {
    report.error = e instanceof Error ? e : new Error(String(e));
    world.log(
      `stopped: ${report.error.message}; nothing was destroyed or deleted`,
    );
    return report;
  }
  report.error = report.failed[0]?.error;
  try {
    for (const source of plan.sources) {
      const failed = failedRemotes.get(source.path)!;
      if (failed.size && source.destroys.length) {
        report.destroysSkipped += source.destroys.length;
        world.log(
          `kept ${source.destroys.length} snapshot(s) of ${source.name} the plan would destroy: the upload to ${
            [...failed].join(", ")
          } failed`,
        );
      } else {
        for (const s of source.destroys) {
          await world.destroy(s);
          report.destroyed++;
          world.log(`destroyed snapshot ${baseName(s.path)}`, s.path);
        }
      }
      for (const remoteId of failed) {
        const kept = source.deletes.filter((d) => d.remoteId === remoteId);
        if (kept.length === 0) continue;
        report.deletesSkipped += kept.length;
        world.log(
          `kept ${kept.length} backup(s) of ${source.name} on ${remoteId} the plan would delete: the upload to ${remoteId} failed`,
        );
      }
      for (const d of source.deletes) {
        if (failed.has(d.remoteId)) continue;
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

/** Snapshot, renames, uploads and retention extensions of one source; records failed uploads in `failed`. */
async function _uploadSource(
  source: SourcePlan,
  timeZone: string,
  world: ExecutorWorld,
  report: ExecuteReport,
  failed: Set<string>,
): Promise<void> {
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
  for (const group of sendGroups(source.uploads)) {
    const targets: UploadTarget[] = [];
    for (const planned of group) {
      const upload = _resolvePending(planned, pending);
      const key = planned.snapshot.uuid === PENDING_UUID && pending
        ? world.rekey(upload, pending, source)
        : planned.key;
      if (failed.has(upload.remoteId)) {
        report.skipped.push(`${upload.remoteId}:${key}`);
        world.log(
          `skipped uploading ${
            baseName(upload.snapshot.path)
          } to ${upload.remoteId}: an earlier upload to it failed`,
          `key ${key}`,
        );
        continue;
      }
      targets.push({ upload, key });
    }
    if (targets.length === 0) continue;
    for (const { upload, key } of targets) {
      world.log(
        `uploading ${baseName(upload.snapshot.path)} to ${upload.remoteId}` +
          (upload.parent
            ? ` (differential from ${baseName(upload.parent.path)})`
            : " (full)"),
        `key ${key}`,
      );
    }
    const outcomes = await world.upload(source, targets);
    for (const [i, { upload, key }] of targets.entries()) {
      const error = outcomes[i];
      if (error === null) {
        report.uploaded.push(`${upload.remoteId}:${key}`);
        continue;
      }
      failed.add(upload.remoteId);
      report.failed.push({ remoteId: upload.remoteId, key, error });
      world.log(
        `upload of ${
          baseName(upload.snapshot.path)
        } to ${upload.remoteId} failed: ${error.message}`,
        `key ${key}`,
      );
    }
  }
  for (const r of source.retentions ?? []) {
    const b = r.backup;
    const name = snapshotName(b.name, b.ctime, b.ctransid, timeZone);
    if (failed.has(r.remoteId)) {
      // The remote is failing now; the next run extends it (nothing is deleted meanwhile).
      world.log(
        `skipped retaining ${name} in ${r.remoteId}: an upload to it failed`,
        `key ${b.keys[0]}`,
      );
      continue;
    }
    await world.extendRetention(r);
    report.retained++;
    world.log(
      `retained ${name} in ${r.remoteId} until ${
        Zone.get(timeZone).formatIso(r.to.until.epochMilliseconds)
      } (${r.to.mode})`,
      `key ${b.keys[0]}`,
    );
  }
}

/**
 * The uploads of a source in groups that share one `btrfs send`: the same
 * snapshot and the same send parent, to different remotes. The planner
 * orders uploads by snapshot (parents first), so a group never runs before
 * an upload it depends on.
 *
 * @param uploads A source's uploads, in the planner's order.
 * @returns The groups, in order; each holds at least one upload.
 */
export function sendGroups(uploads: readonly Upload[]): Upload[][] {
  const groups: Upload[][] = [];
  let run: Map<string, Upload[]> = new Map();
  let runSnapshot: string | null = null;
  for (const u of uploads) {
    if (u.snapshot.uuid !== runSnapshot) {
      run = new Map();
      runSnapshot = u.snapshot.uuid;
    }
    const parent = u.parent?.uuid ?? "";
    const group = run.get(parent);
    if (group && !group.some((g) => g.remoteId === u.remoteId)) {
      group.push(u);
    } else {
      const fresh = [u];
      run.set(parent, fresh);
      groups.push(fresh);
    }
  }
  return groups;
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
