/**
 * Resolution of one policy against the snapshots of a source and the backups
 * in one remote (POLICY.md "What is kept" and "Send parent"): which snapshots
 * and backups to keep, and which new backups to upload with which parent.
 *
 * Broken chains are repaired, never extended: a backup whose send parent has
 * neither a restorable backup nor a snapshot (so nothing can ever make it
 * restorable) counts as absent. Its snapshot, if the policy wants it, is
 * uploaded again against a whole chain; a missing ancestor whose snapshot
 * still exists is uploaded again; nothing is ever sent against a broken chain.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import type { BackupFlag, KeepReason } from "./vocabulary.ts";
import type { Policy, Unit } from "./grammar.ts";
import type { IntervalCalendar } from "./intervals.ts";
import { brokenBackups } from "./chains.ts";
import { compareStrings } from "../text.ts";

export type { BackupFlag };

/** What resolution wants of one backup (existing or new). */
export interface BackupKeep {
  /** Why it is kept. */
  reasons: KeepReason[];
  /** Facts such as new or replacing newer. */
  flags: BackupFlag[];
}

/** A backup resolution wants uploaded. */
export interface NewBackup extends BackupKeep {
  /** Snapshot to send. */
  snapshot: SnapshotRef;
  /** Send parent, null for a full backup. */
  parent: SnapshotRef | null;
}

/** Input of {@link resolve}. */
export interface ResolveInput {
  /** The remote's policy. */
  policy: Policy;
  /** Interval arithmetic in the configured zone. */
  calendar: IntervalCalendar;
  /** The current time; preserved intervals end with the one containing it. */
  now: Temporal.Instant;
  /** Remote id, carried into the reasons. */
  remoteId: string;
  /** All snapshots of the source, the pending one included. */
  snapshots: readonly SnapshotRef[];
  /** The remote's backups of the source. */
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
  /** Backups whose chain is broken (not restorable), with why: never kept, never a parent. */
  broken: Map<BackupInfo, string>;
  /** Broken chains, repairs and duplicate uuids. */
  warnings: string[];
}

interface _Item<T> {
  uuid: string;
  ctransid: number;
  ms: number;
  ctime: Temporal.Instant;
  ref: T;
  /** Position in the index's time order. */
  pos: number;
}

/** Smaller ctransid wins; ties (only possible with hand-made snapshots) by ctime, then uuid. */
function _before<T>(a: _Item<T>, b: _Item<T>): boolean {
  if (a.ctransid !== b.ctransid) return a.ctransid < b.ctransid;
  if (a.ms !== b.ms) return a.ms < b.ms;
  const c = Temporal.Instant.compare(a.ctime, b.ctime);
  if (c !== 0) return c < 0;
  return a.uuid < b.uuid;
}

/**
 * Items in time order, grouped per unit by the interval containing them.
 * Walking items in time order lets consecutive items reuse one interval
 * lookup, which keeps 100k items far below a second.
 */
class _Index<T> {
  readonly byUuid: Map<string, _Item<T>>;
  readonly items: _Item<T>[];
  /** Per unit: distinct interval starts, ascending. */
  readonly starts: Float64Array[] = [];
  /** Per unit: nominal item of each interval (parallel to `starts`). */
  readonly nominal: _Item<T>[][] = [];
  /** Interval index of item `pos` for unit `u` is `group[pos * units + u]`. */
  readonly group: Int32Array;
  readonly mostRecent: _Item<T> | null = null;

  constructor(
    items: _Item<T>[],
    byUuid: Map<string, _Item<T>>,
    units: readonly Unit[],
    cal: IntervalCalendar,
  ) {
    this.byUuid = byUuid;
    let sorted = true;
    for (let i = 1; i < items.length && sorted; i++) {
      sorted = items[i - 1].ms <= items[i].ms;
    }
    if (!sorted) items = [...items].sort((a, b) => a.ms - b.ms);
    this.items = items;
    const n = items.length;
    const nu = units.length;
    this.group = new Int32Array(n * nu);
    for (let i = 0; i < n; i++) {
      const item = items[i];
      item.pos = i;
      if (this.mostRecent === null || _before(this.mostRecent, item)) {
        this.mostRecent = item;
      }
    }
    for (let u = 0; u < nu; u++) {
      const starts: number[] = [];
      const nominal: _Item<T>[] = [];
      let end = -Infinity;
      for (let i = 0; i < n; i++) {
        const item = items[i];
        if (item.ms >= end || starts.length === 0) {
          const iv = cal.containing(units[u], item.ms);
          end = iv.end;
          starts.push(iv.start);
          nominal.push(item);
        } else if (_before(item, nominal[nominal.length - 1])) {
          nominal[nominal.length - 1] = item;
        }
        this.group[i * nu + u] = starts.length - 1;
      }
      this.starts.push(Float64Array.from(starts));
      this.nominal.push(nominal);
    }
  }

  /** Nominal item of unit `u`'s interval containing `item`. */
  nominalOf(item: _Item<T>, u: number): _Item<T> {
    return this.nominal[u][this.group[item.pos * this.starts.length + u]];
  }

  /** Indexes of unit `u`'s intervals with a start in `[first, last]`. */
  range(u: number, first: number, last: number): [number, number] {
    const s = this.starts[u];
    return [_bound(s, first, false), _bound(s, last, true)];
  }
}

/** First index whose value is `>= x` (or `> x` when `after`). */
function _bound(a: Float64Array, x: number, after: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x || (after && a[mid] === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
  readonly #broken: Map<BackupInfo, string>;
  readonly #warnings: string[] = [];

  constructor(input: ResolveInput) {
    this.#in = input;
    this.#units = input.policy.units;
    const cal = input.calendar;
    const snapItems: _Item<SnapshotRef>[] = [];
    const snapsByUuid = new Map<string, _Item<SnapshotRef>>();
    for (const s of input.snapshots) {
      const first = snapsByUuid.get(s.uuid);
      if (first !== undefined) {
        this.#warnings.push(
          `two snapshots claim uuid ${s.uuid} (${first.ref.path} and ${s.path}); using the first`,
        );
        continue;
      }
      const item: _Item<SnapshotRef> = {
        uuid: s.uuid,
        ctransid: s.ctransid,
        ms: s.ctime.epochMilliseconds,
        ctime: s.ctime,
        ref: s,
        pos: 0,
      };
      snapsByUuid.set(s.uuid, item);
      snapItems.push(item);
    }
    this.#snaps = new _Index(snapItems, snapsByUuid, this.#units, cal);
    this.#broken = brokenBackups(input.backups, new Set(snapsByUuid.keys()));
    for (const [b, why] of this.#broken) {
      this.#warnings.push(
        `backup ${
          b.keys[0]
        } in remote ${input.remoteId} cannot be restored: ${why}; ` +
          `it counts as absent and is deleted after this run's uploads`,
      );
    }
    // Objects claiming one uuid share one fate; the first by key represents them.
    const backupItems: _Item<BackupInfo[]>[] = [];
    const backupsByUuid = new Map<string, _Item<BackupInfo[]>>();
    for (const b of input.backups) {
      if (this.#broken.has(b)) continue;
      const item = backupsByUuid.get(b.uuid);
      if (item !== undefined) {
        item.ref.push(b);
        continue;
      }
      const fresh: _Item<BackupInfo[]> = {
        uuid: b.uuid,
        ctransid: b.ctransid,
        ms: b.ctime.epochMilliseconds,
        ctime: b.ctime,
        ref: [b],
        pos: 0,
      };
      backupsByUuid.set(b.uuid, fresh);
      backupItems.push(fresh);
    }
    for (const item of backupItems) {
      const group = item.ref;
      if (group.length < 2) continue;
      group.sort((a, b) => compareStrings(a.keys[0] ?? "", b.keys[0] ?? ""));
      const b = group[0];
      item.ctransid = b.ctransid;
      item.ms = b.ctime.epochMilliseconds;
      item.ctime = b.ctime;
      this.#warnings.push(
        `${group.length} backups in remote ${input.remoteId} claim snapshot uuid ${item.uuid} (${
          group.map((x) => x.keys[0]).join(", ")
        }); they are kept or deleted together`,
      );
    }
    this.#backups = new _Index(backupItems, backupsByUuid, this.#units, cal);
  }

  run(): ResolveResult {
    this.#preservedIntervals();
    this.#mostRecent();
    this.#ancestors();
    this.#markRepairs();
    return {
      snapshots: this.#keptSnaps,
      backups: this.#keptBackups,
      uploads: this.#uploads,
      broken: this.#broken,
      warnings: this.#warnings,
    };
  }

  /** An upload of a snapshot whose only backups are broken is a repair. */
  #markRepairs(): void {
    const brokenUuids = new Set([...this.#broken.keys()].map((b) => b.uuid));
    for (const [uuid, upload] of this.#uploads) {
      if (brokenUuids.has(uuid) && !upload.flags.includes("repair")) {
        upload.flags.push("repair");
      }
    }
  }

  #preservedIntervals(): void {
    const { calendar: cal, policy, now, remoteId } = this.#in;
    const nowMs = now.epochMilliseconds;
    this.#units.forEach((unit, u) => {
      const last = cal.containing(unit, nowMs).start;
      const first = cal.back(unit, last, policy.counts[unit] - 1);
      const [s0, s1] = this.#snaps.range(u, first, last);
      const [b0, b1] = this.#backups.range(u, first, last);
      const sStarts = this.#snaps.starts[u];
      const bStarts = this.#backups.starts[u];
      // Merge the two sorted lists of interval starts.
      let i = s0;
      let j = b0;
      while (i < s1 || j < b1) {
        const ss = i < s1 ? sStarts[i] : Infinity;
        const bs = j < b1 ? bStarts[j] : Infinity;
        const start = Math.min(ss, bs);
        const s = ss === start ? this.#snaps.nominal[u][i++] : undefined;
        const b = bs === start ? this.#backups.nominal[u][j++] : undefined;
        const label = cal.label(unit, start);
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
    for (let uuid = queue.pop(); uuid !== undefined; uuid = queue.pop()) {
      // An existing backup whose parent backup is gone is repaired from the parent's snapshot.
      const repair = this.#uploads.has(uuid) ? undefined : "repair";
      for (const parent of this.#sendParentsOf(uuid)) {
        if (this.#keptBackups.has(parent) || this.#uploads.has(parent)) {
          continue;
        }
        if (this.#backups.byUuid.has(parent)) {
          this.#keepBackup(parent, reason);
          queue.push(parent);
          continue;
        }
        // Backups in the index have a restorable parent: a backup or, here, a snapshot.
        const snap = this.#snaps.byUuid.get(parent);
        if (snap === undefined) continue;
        this.#keepBackupOf(snap, reason, repair);
        queue.push(parent);
        if (repair !== undefined) {
          this.#warnings.push(
            `remote ${remoteId} has no backup of ${parent}, which the kept backup of ${uuid} was sent against: ` +
              `uploading it again from its snapshot (repair)`,
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
    const out: string[] = [];
    for (const b of this.#backups.byUuid.get(uuid)?.ref ?? []) {
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
      const nominal = this.#snaps.nominalOf(s, u);
      if (nominal === s) break;
      parent = nominal.ref;
    }
    return parent;
  }
}
