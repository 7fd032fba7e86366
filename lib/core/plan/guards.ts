/**
 * Guards that stop a run before it can cost a good copy: a clock that reads
 * earlier than what is already on disk or in a remote (the policy would then
 * think every snapshot is from the future, or the past), and a plan that
 * removes more than half of what a source has.
 *
 * @module
 */

import { Zone } from "../zone.ts";
import type { MassDeletion, Plan, PlanInput, SourcePlan } from "./plan.ts";

/** How far the clock may read behind the newest ctime before a run is refused. */
export const CLOCK_TOLERANCE_MS = 10 * 60_000;

/** Why a run was stopped before acting. */
export type GuardKind = "clock" | "mass-delete";

/**
 * A run refused by a guard before anything was created or deleted: the
 * clock reads earlier than the newest snapshot or backup, or the plan would
 * remove more than half of a source's snapshots or of a remote's backups
 * (pass `allowMassDelete`, `--allow-mass-delete`, when that is intended).
 * The command line exits with status 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GuardError } from "./guards.ts";
 * const e = new GuardError("mass-delete", "would delete 9 of 10 backups");
 * assert.ok(e instanceof Error && e.guard === "mass-delete");
 * ```
 */
export class GuardError extends Error {
  /** Which guard stopped the run. */
  readonly guard: GuardKind;
  /** The plan that was stopped (mass-deletion guard only). */
  readonly plan?: Plan;

  /** A refusal by `guard`, saying `message` (one line: what was found, how to proceed). */
  constructor(guard: GuardKind, message: string, plan?: Plan) {
    super(message);
    this.name = "GuardError";
    this.guard = guard;
    if (plan !== undefined) this.plan = plan;
  }
}

/** What the clock guard found: a ctime newer than now by more than the tolerance. */
export interface ClockSkew {
  /** Path of the source. */
  source: string;
  /** The clock's reading. */
  now: Temporal.Instant;
  /** The newest ctime. */
  newest: Temporal.Instant;
  /** What has it: a snapshot path, or `<remote>:<key>` of a backup. */
  what: string;
}

/**
 * The first source whose newest snapshot or backup ctime is later than
 * `input.now` by more than `toleranceMs`, or null. Sources are checked in
 * order; within one, the newest item wins.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clockSkew } from "./guards.ts";
 * const t = Temporal.Instant.from("2024-05-01T12:00:00Z");
 * const input = {
 *   timeZone: "UTC", now: Temporal.Instant.from("2000-01-01T00:00:00Z"),
 *   sources: [{
 *     path: "/data/home", name: "home", uuid: "aaaaaaaa-0000-0000-0000-000000000001",
 *     ctransid: 10, ctime: t, snapshotDir: "/data/snaps",
 *     snapshots: [{ uuid: "bbbbbbbb-0000-0000-0000-000000000001", ctransid: 10, ctime: t, path: "/data/snaps/s" }],
 *     remotes: [],
 *   }],
 * };
 * assert.equal(clockSkew(input)?.what, "/data/snaps/s");
 * assert.equal(clockSkew({ ...input, now: t }), null);
 * ```
 */
export function clockSkew(
  input: PlanInput,
  toleranceMs: number = CLOCK_TOLERANCE_MS,
): ClockSkew | null {
  const limit = input.now.epochMilliseconds + toleranceMs;
  for (const src of input.sources) {
    let found: ClockSkew | null = null;
    const consider = (ctime: Temporal.Instant, what: string): void => {
      if (ctime.epochMilliseconds <= limit) return;
      if (found === null || Temporal.Instant.compare(ctime, found.newest) > 0) {
        found = { source: src.path, now: input.now, newest: ctime, what };
      }
    };
    for (const s of src.snapshots) consider(s.ctime, s.path);
    for (const r of src.remotes) {
      for (const b of r.backups) {
        if (b.sourceUuid === src.uuid) {
          consider(b.ctime, `${r.id}:${b.keys[0]}`);
        }
      }
    }
    if (found !== null) return found;
  }
  return null;
}

/**
 * The refusal for a clock skew: what the clock reads, what is newer, how to
 * fix the clock.
 */
export function clockSkewMessage(skew: ClockSkew, timeZone: string): string {
  const zone = Zone.get(timeZone);
  const behind = _duration(
    skew.newest.epochMilliseconds - skew.now.epochMilliseconds,
  );
  return `the clock reads ${
    zone.formatIso(skew.now.epochMilliseconds)
  }, ${behind} earlier than ${skew.what} of source ${skew.source} (ctime ${
    zone.formatIso(skew.newest.epochMilliseconds)
  }); planning with it could delete good snapshots and backups. ` +
    `Set the system clock right (e.g. timedatectl set-ntp true, or date -s) and run again; nothing was created or deleted`;
}

function _duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} hours`;
  const days = Math.round(hours / 24);
  return days < 730 ? `${days} days` : `${Math.round(days / 365.25)} years`;
}

/**
 * The removals of one source plan that need `allowMassDelete`: deleting
 * more than half of a remote's backups of the source, or destroying more
 * than half of the source's snapshots when that is more than 2. Counted
 * against what exists when the removals run (after the run's snapshot and
 * uploads), so an empty policy's steady state (one new full, one old deleted)
 * passes.
 */
export function massDeletions(
  sp: Pick<
    SourcePlan,
    "backups" | "deletes" | "destroys" | "snapshots"
  >,
): MassDeletion[] {
  const out: MassDeletion[] = [];
  const remotes = [...new Set(sp.backups.map((v) => v.remoteId))];
  for (const remoteId of remotes) {
    const total = sp.backups.filter((v) => v.remoteId === remoteId).length;
    const count = sp.deletes.filter((d) => d.remoteId === remoteId).length;
    if (count * 2 > total) {
      out.push({ kind: "backups", remoteId, count, total });
    }
  }
  const total = sp.snapshots.length;
  const count = sp.destroys.length;
  if (count > 2 && count * 2 > total) {
    out.push({ kind: "snapshots", count, total });
  }
  return out;
}

/** True when some source of the plan has a removal the mass-deletion guard stops. */
export function hasMassDeletion(plan: Plan): boolean {
  return plan.sources.some((s) => s.massDeletions.length > 0);
}

/** One line per guarded removal, for the preview and the refusal. */
export function describeMassDeletion(m: MassDeletion): string {
  return m.kind === "backups"
    ? `would delete ${m.count} of ${m.total} backups in remote ${m.remoteId}`
    : `would destroy ${m.count} of ${m.total} snapshots`;
}

/**
 * The refusal for a plan with mass deletions: what, where, why it might
 * happen, and the flag that allows it.
 */
export function massDeletionMessage(plan: Plan): string {
  const what = plan.sources.flatMap((s) =>
    s.massDeletions.map((m) => `source ${s.path} ${describeMassDeletion(m)}`)
  );
  return `refusing to remove more than half of what a source has: ${
    what.join("; ")
  }. This is expected after shortening a policy, and a sign of a wrong clock or config otherwise; ` +
    `check the plan above, then run again with --allow-mass-delete (allowMassDelete: true) to carry it out; nothing was created or deleted`;
}
