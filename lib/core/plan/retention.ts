/**
 * When each backup is planned to expire, and what object lock makes of it:
 * the retention of new backups, extensions of kept ones, and deletes that
 * must wait for a lock to end.
 *
 * A backup kept for an interval of unit `u` under a policy `Nu` stays kept
 * until the interval N intervals later begins (its window ends); a backup
 * kept as the most recent one, until the end of the finest unit's current
 * interval (a later run may find a newer one); a backup others are sent
 * against, at least as long as the last of them. So every ancestor's expiry
 * is at least its descendants', and a chain is never locked shorter than its
 * newest member.
 *
 * @module
 */

import type { ObjectLock } from "../config_types.ts";
import type { Policy, Unit } from "../policy/grammar.ts";
import type { IntervalCalendar } from "../policy/intervals.ts";
import {
  type BackupVerdict,
  type RetentionExtension,
  verdictFacts,
} from "./plan.ts";

const _DAY_MS = 86_400_000;

/** No retention reaches further than this (S3 itself allows about 100 years). */
const _MAX_RETENTION_MS = 100 * 365 * _DAY_MS;

/** Rough interval lengths, only to start the search for a window's end near it. */
const _ROUGH_MS: Record<Unit, number> = {
  y: 365.2425 * _DAY_MS,
  q: 91.31 * _DAY_MS,
  m: 30.44 * _DAY_MS,
  w: 7 * _DAY_MS,
  d: _DAY_MS,
  h: 3_600_000,
  M: 60_000,
  s: 1000,
};

/** Input of {@linkcode plannedExpiries}. */
export interface ExpiryInput {
  /** The remote's policy. */
  policy: Policy;
  /** Interval arithmetic in the configured zone. */
  calendar: IntervalCalendar;
  /** The instant of the plan. */
  now: Temporal.Instant;
  /** The remote's verdicts (existing and planned), sorted by ctransid. */
  verdicts: readonly BackupVerdict[];
  /** Days added to every expiry (the lock's `extraDays`). */
  extraDays?: number;
}

/**
 * The planned expiry (epoch ms) of every kept backup, by snapshot uuid: the
 * end of the last interval that keeps it, or that of the last backup sent
 * against it (directly or further down), plus `extraDays`.
 *
 * @param input The remote's policy, verdicts and the time.
 * @returns Expiry by uuid; only kept backups are in it.
 */
export function plannedExpiries(input: ExpiryInput): Map<string, number> {
  const { policy, calendar: cal, now, verdicts } = input;
  const nowMs = now.epochMilliseconds;
  const finest = policy.units[policy.units.length - 1];
  const mostRecentEnd = finest === undefined
    ? nowMs
    : cal.containing(finest, nowMs).end;
  const out = new Map<string, number>();
  for (const v of verdicts) {
    if (!v.keep) continue;
    const f = verdictFacts(v);
    let e = out.get(f.uuid) ?? -Infinity;
    for (const r of v.reasons) {
      if (r.kind === "ancestor") continue;
      if (r.kind === "most-recent") {
        e = Math.max(e, mostRecentEnd);
        continue;
      }
      const unit = r.unit;
      if (unit === undefined || !(policy.counts[unit] > 0)) continue;
      e = Math.max(
        e,
        windowEnd(cal, unit, policy.counts[unit], f.ctime.epochMilliseconds),
      );
    }
    out.set(f.uuid, e);
  }
  // Children have larger ctransids than their send parents: newest first
  // hands every descendant's expiry up before its parent passes it on.
  for (let i = verdicts.length - 1; i >= 0; i--) {
    const v = verdicts[i];
    if (!v.keep) continue;
    const f = verdictFacts(v);
    const parent = f.sendParentUuid;
    const e = out.get(f.uuid)!;
    if (parent !== null && out.has(parent) && out.get(parent)! < e) {
      out.set(parent, e);
    }
  }
  const extra = (input.extraDays ?? 0) * _DAY_MS;
  for (const [uuid, e] of out) {
    out.set(uuid, Math.max(e, nowMs) + extra);
  }
  return out;
}

/**
 * The start of the interval `count` intervals after the one of `unit`
 * containing `ms`: the instant a policy `<count><unit>` stops keeping that
 * interval. Found near a rough estimate and checked with `back`, so long
 * policies (`3650d`, `3600s`) cost a few lookups, not thousands.
 *
 * @param cal The zone's calendar.
 * @param unit The unit.
 * @param count How many intervals the policy keeps.
 * @param ms An instant in the kept interval.
 * @returns The end of the window, epoch ms (Infinity beyond representable dates).
 */
export function windowEnd(
  cal: IntervalCalendar,
  unit: Unit,
  count: number,
  ms: number,
): number {
  const first = cal.containing(unit, ms).start;
  const rough = first + count * _ROUGH_MS[unit];
  if (!(rough < 8.6e15)) return Infinity;
  let s = cal.containing(unit, rough).start;
  for (let i = 0; i < 10_000; i++) {
    const b = cal.back(unit, s, count);
    if (b === first) return s;
    s = b < first ? cal.next(unit, s) : cal.containing(unit, s - 1).start;
  }
  throw new Error(
    `internal: no end found for ${count}${unit} from ${
      new Date(ms).toISOString()
    }`,
  );
}

/** Input of {@linkcode planObjectLock}. */
export interface ObjectLockInput {
  /** Remote id. */
  remoteId: string;
  /** The remote's lock. */
  lock: ObjectLock;
  /** The instant of the plan. */
  now: Temporal.Instant;
  /** The remote's verdicts, sorted by ctransid; changed in place. */
  verdicts: BackupVerdict[];
  /** From {@linkcode plannedExpiries} (with the lock's extra days). */
  expiries: ReadonlyMap<string, number>;
}

/** What object lock changes in a remote's plan. */
export interface ObjectLockPlan {
  /** Kept backups whose retention is set or extended. */
  retentions: RetentionExtension[];
  /** Uuids of backups the policy drops that stay until their lock (or a locked descendant's) ends. */
  deferred: Set<string>;
}

/**
 * Object lock decisions of one remote. New backups get a retention until
 * their planned expiry (`upload.lock`); kept backups whose retention ends
 * sooner (or that have none) get an extension; a backup the policy drops
 * whose retention has not ended is not deleted (`lockedUntil`), nor is any
 * ancestor it needs to stay restorable.
 *
 * @param input The remote's verdicts, expiries and lock.
 * @returns The extensions and the deferred deletes; verdicts carry `expiry`, `lockedUntil` and uploads `lock`.
 */
export function planObjectLock(input: ObjectLockInput): ObjectLockPlan {
  const { lock, now, verdicts, expiries } = input;
  const nowMs = now.epochMilliseconds;
  const retentions: RetentionExtension[] = [];
  const deferred = new Set<string>();
  const byUuid = new Map<string, BackupVerdict[]>();
  for (const v of verdicts) {
    const uuid = verdictFacts(v).uuid;
    const list = byUuid.get(uuid);
    if (list === undefined) byUuid.set(uuid, [v]);
    else list.push(v);
  }
  const defer = (v: BackupVerdict, until: number): void => {
    if (v.kind !== "existing" || v.keep) return;
    const uuid = v.backup.uuid;
    const cur = v.lockedUntil?.epochMilliseconds ?? -Infinity;
    if (cur >= until) return;
    v.lockedUntil = Temporal.Instant.fromEpochMilliseconds(until);
    deferred.add(uuid);
    // The chain below a locked backup stays, or it could not be restored.
    const parent = v.backup.sendParentUuid;
    if (parent === null) return;
    for (const p of byUuid.get(parent) ?? []) {
      if (p.kind !== "existing" || p.keep) continue;
      const own = p.backup.retainUntil?.epochMilliseconds ?? -Infinity;
      defer(p, Math.max(own, until));
    }
  };
  for (const v of verdicts) {
    if (v.kind === "existing" && !v.keep) {
      const held = v.backup.retainUntil?.epochMilliseconds;
      if (held !== undefined && held > nowMs) defer(v, held);
      continue;
    }
    const planned = expiries.get(verdictFacts(v).uuid);
    if (planned === undefined) continue;
    // S3 keeps retention to the second: round up so it never ends early.
    const untilMs = Math.ceil(
      Math.min(planned, nowMs + _MAX_RETENTION_MS) / 1000,
    ) * 1000;
    if (untilMs <= nowMs) continue;
    const until = Temporal.Instant.fromEpochMilliseconds(untilMs);
    if (v.kind === "new") {
      v.upload.lock = { mode: lock.mode, until };
      continue;
    }
    const from = v.backup.retainUntil;
    if (from !== undefined && from.epochMilliseconds >= untilMs - 1000) {
      continue;
    }
    retentions.push({
      remoteId: input.remoteId,
      backup: v.backup,
      ...(from !== undefined ? { from } : {}),
      to: { mode: lock.mode, until },
    });
  }
  return { retentions, deferred };
}
