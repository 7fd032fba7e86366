/**
 * What-if replay of a policy: an in-memory source, snapshot directory and
 * remote, driven by the real planner at every tick of a schedule.
 *
 * @module
 */

import type { BackupInfo, SnapshotRef } from "../types.ts";
import { parseKey } from "../keys.ts";
import { Zone } from "../zone.ts";
import { PENDING_UUID, type Plan, type PlanInput } from "./plan.ts";
import { plan } from "./planner.ts";

/**
 * Carry out a plan on an in-memory inventory, as the executor would on the
 * real world: create the snapshot (with a uuid from `mintUuid`), rename,
 * upload (the key parsed back with the codec), destroy, delete. Returns the
 * new inventory; the input is not modified.
 */
export function applyPlanInMemory(
  input: PlanInput,
  p: Plan,
  mintUuid: () => string,
): PlanInput {
  return {
    ...input,
    sources: input.sources.map((src, i) => {
      const sp = p.sources[i];
      let snapshots = src.snapshots.map((s) => ({ ...s }));
      let realUuid: string | null = null;
      if (sp.createSnapshot) {
        realUuid = mintUuid();
        snapshots.push({ ...sp.createSnapshot, uuid: realUuid });
      }
      const real = (s: SnapshotRef): string =>
        s.uuid === PENDING_UUID && realUuid !== null ? realUuid : s.uuid;
      for (const r of sp.renames) {
        const s = snapshots.find((x) => x.uuid === r.uuid);
        if (s === undefined || s.path !== r.from) {
          throw new Error(`rename of a snapshot that is not there: ${r.from}`);
        }
        s.path = r.to;
      }
      const remotes = src.remotes.map((r) => ({
        ...r,
        backups: [...r.backups],
      }));
      for (const u of sp.uploads) {
        const remote = _remote(remotes, u.remoteId);
        const uuid = real(u.snapshot);
        if (!snapshots.some((s) => s.uuid === uuid)) {
          throw new Error(`upload of a missing snapshot ${uuid}`);
        }
        const parent = u.parent;
        if (
          parent !== null && !remote.backups.some((b) => b.uuid === parent.uuid)
        ) {
          throw new Error(`upload of ${uuid} before its parent ${parent.uuid}`);
        }
        const key = u.key.replace(`.uuid${PENDING_UUID}`, `.uuid${uuid}`);
        const parsed = parseKey(key);
        if (!parsed.ok) {
          throw new Error(
            `planned key does not parse: ${key}: ${parsed.reason}`,
          );
        }
        const k = parsed.key;
        const info: BackupInfo = {
          keys: [key],
          name: k.name,
          ctime: k.ctime,
          ctransid: k.ctransid,
          uuid: k.uuid,
          sendParentUuid: k.sendParentUuid,
          sourceUuid: k.sourceUuid,
          suffixes: k.suffixes,
        };
        if (u.storageClass !== undefined) info.storageClass = u.storageClass;
        if (u.lock !== undefined) info.retainUntil = u.lock.until;
        remote.backups.push(info);
      }
      for (const r of sp.retentions) {
        const remote = _remote(remotes, r.remoteId);
        remote.backups = remote.backups.map((b) =>
          b === r.backup ? { ...b, retainUntil: r.to.until } : b
        );
      }
      const destroyed = new Set(sp.destroys.map((s) => s.uuid));
      snapshots = snapshots.filter((s) => !destroyed.has(s.uuid));
      for (const d of sp.deletes) {
        const remote = _remote(remotes, d.remoteId);
        remote.backups = remote.backups.filter((b) => b !== d.backup);
      }
      return { ...src, snapshots, remotes };
    }),
  };
}

function _remote<T extends { id: string }>(remotes: T[], id: string): T {
  const found = remotes.find((r) => r.id === id);
  if (found === undefined) throw new Error(`plan names unknown remote ${id}`);
  return found;
}

/**
 * Instants of a schedule from `start` to `end` inclusive, stepping `every` on
 * the wall clock of `timeZone` like cron: `PT6H` from midnight stays on
 * 00/06/12/18 across DST; a tick in a skipped hour runs at the transition; a
 * tick landing on an earlier instant than the previous one (the repeated hour)
 * is skipped.
 * @throws {RangeError} for a non-positive step or more than `maxTicks` ticks.
 */
export function scheduleTicks(
  start: Temporal.Instant,
  end: Temporal.Instant,
  every: Temporal.Duration,
  timeZone: string,
  maxTicks = 1_000_000,
): Temporal.Instant[] {
  Zone.get(timeZone);
  if (every.sign <= 0) throw new RangeError("the step must be positive");
  const origin = start.toZonedDateTimeISO(timeZone).toPlainDateTime();
  const out: Temporal.Instant[] = [];
  for (let k = 0;; k++) {
    const step = Temporal.Duration.from({
      years: every.years * k,
      months: every.months * k,
      weeks: every.weeks * k,
      days: every.days * k,
      hours: every.hours * k,
      minutes: every.minutes * k,
      seconds: every.seconds * k,
      milliseconds: every.milliseconds * k,
      microseconds: every.microseconds * k,
      nanoseconds: every.nanoseconds * k,
    });
    const t = k === 0 ? start : origin.add(step).toZonedDateTime(timeZone)
      .toInstant();
    if (Temporal.Instant.compare(t, end) > 0) break;
    if (
      out.length > 0 && Temporal.Instant.compare(t, out[out.length - 1]) <= 0
    ) continue;
    out.push(t);
    if (out.length > maxTicks) {
      throw new RangeError(
        `more than ${maxTicks} runs between start and end; use a longer step or a shorter span`,
      );
    }
  }
  return out;
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** Preservation policy, e.g. `1y 3m 30d 24h`. */
  policy: string;
  /** IANA time zone of the policy and the schedule. */
  timeZone: string;
  /** First run. */
  start: Temporal.Instant;
  /** Last run, inclusive. */
  end: Temporal.Instant;
  /** Step between runs, on the wall clock. */
  every: Temporal.Duration;
  /** Called after each run with the inventory after it (tests check invariants here). */
  onRun?: (after: PlanInput, executed: Plan) => void;
}

/** Final state of a simulation. */
export interface SimulateResult {
  /** Number of runs replayed. */
  runs: number;
  /** Snapshots left, by ctransid. */
  snapshots: SnapshotRef[];
  /** Backups left, by ctransid. */
  backups: BackupInfo[];
  /** A plan of the final state at the last tick: nothing to do, but every verdict. */
  finalPlan: Plan;
  /** Distinct warnings of all runs. */
  warnings: string[];
}

/**
 * Replay one change of the source and one update run at each tick: the
 * source's ctransid increases and its ctime is the tick, so each run makes
 * one snapshot; the plan is carried out in memory.
 */
export function simulate(options: SimulateOptions): SimulateResult {
  const ticks = scheduleTicks(
    options.start,
    options.end,
    options.every,
    options.timeZone,
  );
  let counter = 0;
  const mintUuid = (): string =>
    `00000000-0000-4000-8000-${(++counter).toString(16).padStart(12, "0")}`;
  let state: PlanInput = {
    timeZone: options.timeZone,
    now: options.start,
    sources: [{
      path: "/source",
      name: "source",
      uuid: "ffffffff-0000-4000-8000-000000000000",
      ctransid: 0,
      ctime: options.start,
      snapshotDir: "/snapshots",
      snapshots: [],
      remotes: [{
        id: "remote",
        preserve: options.policy,
        keySuffixes: [],
        backups: [],
      }],
    }],
  };
  const warnings = new Set<string>();
  for (const tick of ticks) {
    const src = state.sources[0];
    state = {
      ...state,
      now: tick,
      sources: [{ ...src, ctransid: src.ctransid + 1, ctime: tick }],
    };
    const p = plan(state);
    for (const w of p.sources[0].warnings) warnings.add(w);
    state = applyPlanInMemory(state, p, mintUuid);
    options.onRun?.(state, p);
  }
  const finalPlan = plan(state);
  const src = state.sources[0];
  return {
    runs: ticks.length,
    snapshots: [...src.snapshots].sort((a, b) => a.ctransid - b.ctransid),
    backups: [...src.remotes[0].backups].sort((a, b) =>
      a.ctransid - b.ctransid
    ),
    finalPlan,
    warnings: [...warnings],
  };
}
