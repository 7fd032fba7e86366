/**
 * Resolution of one policy against the snapshots of a source and the backups
 * in one remote (POLICY.md "What is kept" and "Send parent"): which snapshots
 * and backups to keep, and which new backups to upload with which parent.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import type { BackupFlag, KeepReason } from "../plan/plan.ts";
import type { Policy, Unit } from "./grammar.ts";
import type { IntervalCalendar } from "./intervals.ts";

export type { BackupFlag };

/** What resolution wants of one backup (existing or new). */
export interface BackupKeep {
  reasons: KeepReason[];
  flags: BackupFlag[];
}

/** A backup resolution wants uploaded. */
export interface NewBackup extends BackupKeep {
  snapshot: SnapshotRef;
  /** Send parent, null for a full backup. */
  parent: SnapshotRef | null;
}

/** Input of {@link resolve}. */
export interface ResolveInput {
  policy: Policy;
  calendar: IntervalCalendar;
  now: Temporal.Instant;
  remoteId: string;
  snapshots: readonly SnapshotRef[];
  backups: readonly BackupInfo[];
}

/** Output of {@link resolve}. */
export interface ResolveResult {
  /** Kept snapshots by uuid, with why. */
  snapshots: Map<string, KeepReason[]>;
  /** Kept existing backups by snapshot uuid (all objects claiming that uuid share the verdict). */
  backups: Map<string, BackupKeep>;
  /** Backups to upload, by snapshot uuid. */
  uploads: Map<string, NewBackup>;
  warnings: string[];
}

interface _Item<T> {
  uuid: string;
  ctransid: number;
  ms: number;
  ctime: Temporal.Instant;
  ref: T;
  /** Start of the containing interval of each policy unit, in `policy.units` order. */
  starts: number[];
}

/** Smaller ctransid wins; ties (only possible with hand-made snapshots) by ctime, then uuid. */
function _before<T>(a: _Item<T>, b: _Item<T>): boolean {
  if (a.ctransid !== b.ctransid) return a.ctransid < b.ctransid;
  if (a.ms !== b.ms) return a.ms < b.ms;
  const c = Temporal.Instant.compare(a.ctime, b.ctime);
  if (c !== 0) return c < 0;
  return a.uuid < b.uuid;
}

class _Index<T> {
  readonly byUuid = new Map<string, _Item<T>>();
  // Per unit (policy order): interval start → nominal item.
  readonly nominal: Map<number, _Item<T>>[];
  mostRecent: _Item<T> | null = null;

  constructor(units: number) {
    this.nominal = Array.from({ length: units }, () => new Map());
  }

  add(item: _Item<T>): void {
    this.byUuid.set(item.uuid, item);
    for (let u = 0; u < item.starts.length; u++) {
      const map = this.nominal[u];
      const cur = map.get(item.starts[u]);
      if (cur === undefined || _before(item, cur)) {
        map.set(item.starts[u], item);
      }
    }
    if (this.mostRecent === null || _before(this.mostRecent, item)) {
      this.mostRecent = item;
    }
  }
}

/**
 * Resolve one remote's policy: the three keep passes of POLICY.md (preserved
 * intervals, most recent, send-parent chains), choosing the send parent of
 * every new backup. Never throws on inconsistent inventories: broken chains
 * and duplicate uuids become warnings.
 */
export function resolve(input: ResolveInput): ResolveResult {
  return new _Resolver(input).run();
}

class _Resolver {
  readonly #in: ResolveInput;
  readonly #units: readonly Unit[];
  readonly #snaps: _Index<SnapshotRef>;
  readonly #backups: _Index<BackupInfo[]>;
  readonly #keptSnaps = new Map<string, KeepReason[]>();
  readonly #keptBackups = new Map<string, BackupKeep>();
  readonly #uploads = new Map<string, NewBackup>();
  readonly #warnings: string[] = [];

  constructor(input: ResolveInput) {
    this.#in = input;
    this.#units = input.policy.units;
    const cal = input.calendar;
    const units = this.#units;
    this.#snaps = new _Index(units.length);
    for (const s of input.snapshots) {
      if (this.#snaps.byUuid.has(s.uuid)) {
        this.#warnings.push(
          `two snapshots claim uuid ${s.uuid} (${
            this.#snaps.byUuid.get(s.uuid)!.ref.path
          } and ${s.path}); using the first`,
        );
        continue;
      }
      const ms = s.ctime.epochMilliseconds;
      this.#snaps.add({
        uuid: s.uuid,
        ctransid: s.ctransid,
        ms,
        ctime: s.ctime,
        ref: s,
        starts: cal.startsAt(units, ms),
      });
    }
    // Objects claiming one uuid share one fate; the first by key represents them.
    const groups = new Map<string, BackupInfo[]>();
    for (const b of input.backups) {
      const g = groups.get(b.uuid);
      if (g === undefined) groups.set(b.uuid, [b]);
      else g.push(b);
    }
    this.#backups = new _Index(units.length);
    for (const [uuid, group] of groups) {
      if (group.length > 1) {
        group.sort((a, b) => _cmpStr(a.keys[0] ?? "", b.keys[0] ?? ""));
        this.#warnings.push(
          `${group.length} backups in remote ${input.remoteId} claim snapshot uuid ${uuid} (${
            group.map((b) => b.keys[0]).join(", ")
          }); they are kept or deleted together`,
        );
      }
      const b = group[0];
      const ms = b.ctime.epochMilliseconds;
      this.#backups.add({
        uuid,
        ctransid: b.ctransid,
        ms,
        ctime: b.ctime,
        ref: group,
        starts: cal.startsAt(units, ms),
      });
    }
  }

  run(): ResolveResult {
    this.#preservedIntervals();
    this.#mostRecent();
    this.#ancestors();
    return {
      snapshots: this.#keptSnaps,
      backups: this.#keptBackups,
      uploads: this.#uploads,
      warnings: this.#warnings,
    };
  }

  #preservedIntervals(): void {
    const { calendar: cal, policy, now, remoteId } = this.#in;
    const nowMs = now.epochMilliseconds;
    this.#units.forEach((unit, u) => {
      const last = cal.containing(unit, nowMs).start;
      const first = cal.back(unit, last, policy.counts[unit] - 1);
      const starts = new Set<number>();
      for (const index of [this.#snaps, this.#backups]) {
        for (const start of index.nominal[u].keys()) {
          if (start >= first && start <= last) starts.add(start);
        }
      }
      for (const start of [...starts].sort((a, b) => a - b)) {
        const label = cal.label(unit, start);
        const s = this.#snaps.nominal[u].get(start);
        const b = this.#backups.nominal[u].get(start);
        const interval: KeepReason = {
          kind: "interval",
          unit,
          label,
          remoteId,
        };
        if (s !== undefined) {
          this.#keepSnap(s.ref, interval);
          if (b === undefined) this.#keepBackupOf(s, interval);
          else if (b.ctransid > s.ctransid) {
            this.#keepBackupOf(s, interval, "replacing-newer");
          }
        }
        if (b !== undefined) {
          if (s === undefined) {
            this.#keepBackup(
              b.uuid,
              { kind: "no-snapshot", remoteId, unit, label },
              "no-snapshot",
            );
          } else if (b.ctransid < s.ctransid) {
            this.#keepBackup(
              b.uuid,
              { kind: "snapshot-is-newer", remoteId, unit, label },
              "snapshot-is-newer",
            );
          } else if (b.ctransid === s.ctransid) {
            this.#keepBackup(b.uuid, interval);
          }
        }
      }
    });
  }

  #mostRecent(): void {
    const s = this.#snaps.mostRecent;
    if (s === null) return;
    const reason: KeepReason = {
      kind: "most-recent",
      remoteId: this.#in.remoteId,
    };
    this.#keepSnap(s.ref, reason);
    this.#keepBackupOf(s, reason);
  }

  #ancestors(): void {
    const remoteId = this.#in.remoteId;
    const reason: KeepReason = { kind: "ancestor", remoteId };
    const queue: string[] = [
      ...this.#keptBackups.keys(),
      ...this.#uploads.keys(),
    ];
    const warned = new Set<string>();
    while (queue.length > 0) {
      const uuid = queue.pop()!;
      for (const parent of this.#sendParentsOf(uuid)) {
        if (this.#keptBackups.has(parent) || this.#uploads.has(parent)) {
          continue;
        }
        if (this.#backups.byUuid.has(parent)) {
          this.#keepBackup(parent, reason);
          queue.push(parent);
          continue;
        }
        const snap = this.#snaps.byUuid.get(parent);
        if (snap !== undefined) {
          this.#keepBackupOf(snap, reason);
          queue.push(parent);
          continue;
        }
        const key = `${uuid}>${parent}`;
        if (!warned.has(key)) {
          warned.add(key);
          this.#warnings.push(
            `backup chain is broken in remote ${remoteId}: backup of ${uuid} was sent against ${parent}, ` +
              `which has neither a backup nor a snapshot; it cannot be restored`,
          );
        }
      }
    }
  }

  #sendParentsOf(uuid: string): string[] {
    const upload = this.#uploads.get(uuid);
    if (upload !== undefined) {
      return upload.parent === null ? [] : [upload.parent.uuid];
    }
    const group = this.#backups.byUuid.get(uuid)!.ref;
    const out: string[] = [];
    for (const b of group) {
      if (b.sendParentUuid !== null && !out.includes(b.sendParentUuid)) {
        out.push(b.sendParentUuid);
      }
    }
    return out;
  }

  #keepSnap(s: SnapshotRef, reason: KeepReason): void {
    const reasons = this.#keptSnaps.get(s.uuid);
    if (reasons === undefined) this.#keptSnaps.set(s.uuid, [reason]);
    else reasons.push(reason);
  }

  #keepBackup(uuid: string, reason: KeepReason, flag?: BackupFlag): void {
    let keep = this.#keptBackups.get(uuid);
    if (keep === undefined) {
      keep = { reasons: [], flags: [] };
      this.#keptBackups.set(uuid, keep);
    }
    keep.reasons.push(reason);
    if (flag !== undefined && !keep.flags.includes(flag)) keep.flags.push(flag);
  }

  /** Keep a backup of a snapshot: the existing one if any, else a new upload. */
  #keepBackupOf(
    s: _Item<SnapshotRef>,
    reason: KeepReason,
    flag?: BackupFlag,
  ): void {
    const upload = this.#uploads.get(s.uuid);
    if (upload !== undefined) {
      upload.reasons.push(reason);
      if (flag !== undefined && !upload.flags.includes(flag)) {
        upload.flags.push(flag);
      }
      return;
    }
    if (this.#backups.byUuid.has(s.uuid)) {
      this.#keepBackup(s.uuid, reason, flag);
      return;
    }
    const flags: BackupFlag[] = ["new"];
    if (flag !== undefined) flags.push(flag);
    this.#uploads.set(s.uuid, {
      snapshot: s.ref,
      parent: this.#sendParent(s),
      reasons: [reason],
      flags,
    });
  }

  /**
   * Walk the policy's units coarsest first; the parent is the nominal snapshot
   * of the last interval visited before the first one the snapshot is nominal for.
   */
  #sendParent(s: _Item<SnapshotRef>): SnapshotRef | null {
    let parent: SnapshotRef | null = null;
    for (let u = 0; u < this.#units.length; u++) {
      const nominal = this.#snaps.nominal[u].get(s.starts[u])!;
      if (nominal === s) break;
      parent = nominal.ref;
    }
    return parent;
  }
}

function _cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
