/**
 * The history of a simulation: what each run uploaded and deleted, recorded
 * from {@linkcode simulate}'s `onRun`, and its summary per month (uploads,
 * fulls, deepest chain). The cost estimate prices the same record.
 *
 * @module
 */

import { UNITS } from "../policy/grammar.ts";
import type { Unit } from "../policy/vocabulary.ts";
import { Zone } from "../zone.ts";
import type { Plan, PlanInput } from "./plan.ts";

/** One backup a run uploaded. */
export interface HistoryUpload {
  /** The snapshot's uuid. */
  uuid: string;
  /** The snapshot's ctime (the backup's `.ctim`). */
  ctime: Temporal.Instant;
  /** The send parent's uuid; null for a full backup. */
  parentUuid: string | null;
  /** The send parent's ctime; null for a full backup. */
  parentCtime: Temporal.Instant | null;
  /** Backups a restore of it reads: itself and every ancestor. */
  depth: number;
  /** Units of the intervals it was uploaded for, coarsest first (empty for "most recent" or "ancestor" only). */
  units: Unit[];
}

/** One update run. */
export interface HistoryRun {
  /** When it ran. */
  at: Temporal.Instant;
  /** Backups it uploaded, parents first. */
  uploads: HistoryUpload[];
  /** Uuids of the backups it deleted. */
  deleted: string[];
}

/** Records a simulation run by run; pass `onRun` to {@linkcode simulate}. */
export interface HistoryRecorder {
  /** The callback for `SimulateOptions.onRun`. */
  onRun(after: PlanInput, executed: Plan): void;
  /** The runs so far, in order. */
  readonly runs: HistoryRun[];
}

/**
 * A recorder of the first remote of the first source (the one `simulate`
 * replays).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyRecorder } from "./history.ts";
 * import { simulate } from "./simulate.ts";
 * const h = historyRecorder();
 * simulate({
 *   policy: "1w 2d", timeZone: "UTC", onRun: h.onRun,
 *   start: Temporal.Instant.from("2024-05-06T00:00:00Z"),
 *   end: Temporal.Instant.from("2024-05-08T00:00:00Z"),
 *   every: Temporal.Duration.from("P1D"),
 * });
 * assert.deepEqual(h.runs.map((r) => r.uploads[0].depth), [1, 2, 2]);
 * ```
 */
export function historyRecorder(): HistoryRecorder {
  const runs: HistoryRun[] = [];
  const live = new Map<string, { depth: number }>();
  return {
    runs,
    onRun(after, executed) {
      const remote = after.sources[0].remotes[0];
      const planned = executed.sources[0].uploads;
      const now = new Set<string>();
      const run: HistoryRun = { at: after.now, uploads: [], deleted: [] };
      const byUuid = new Map(remote.backups.map((b) => [b.uuid, b]));
      // Parents come before children in the listing order of uploads.
      const fresh = remote.backups.filter((b) => !live.has(b.uuid))
        .sort((a, b) => a.ctransid - b.ctransid);
      for (const b of fresh) {
        const parent = b.sendParentUuid === null
          ? undefined
          : byUuid.get(b.sendParentUuid);
        const parentDepth = b.sendParentUuid === null
          ? 0
          : (live.get(b.sendParentUuid)?.depth ?? 1);
        const reasons = planned.find((u) =>
          u.snapshot.ctransid === b.ctransid
        )?.reasons ?? [];
        const units = UNITS.filter((u) =>
          reasons.some((r) => r.kind === "interval" && r.unit === u)
        );
        live.set(b.uuid, { depth: parentDepth + 1 });
        run.uploads.push({
          uuid: b.uuid,
          ctime: b.ctime,
          parentUuid: b.sendParentUuid,
          parentCtime: parent?.ctime ?? null,
          depth: parentDepth + 1,
          units,
        });
      }
      for (const b of remote.backups) now.add(b.uuid);
      for (const uuid of [...live.keys()]) {
        if (!now.has(uuid)) {
          live.delete(uuid);
          run.deleted.push(uuid);
        }
      }
      runs.push(run);
    },
  };
}

/** What a stretch of a history did: its runs, uploads and deletes. */
export interface HistoryCounts {
  /** Update runs. */
  runs: number;
  /** Backups uploaded. */
  uploads: number;
  /** Of which full. */
  fulls: number;
  /** Backups deleted. */
  deletes: number;
  /** The longest chain (backups a restore reads) of a backup uploaded in the stretch. */
  deepestChain: number;
  /** Bytes uploaded, when a size model was given. */
  uploadedBytes?: number;
}

/** One calendar month of a history. */
export interface MonthSummary extends HistoryCounts {
  /** `YYYY-MM` in the simulation's zone. */
  month: string;
}

/** A history in brief. */
export interface HistorySummary extends HistoryCounts {
  /** Per calendar month, in order. */
  months: MonthSummary[];
}

/**
 * Sums a history per calendar month of `timeZone`; with `bytesOf`, also the
 * bytes uploaded.
 */
export function summarizeHistory(
  runs: readonly HistoryRun[],
  timeZone: string,
  bytesOf?: (u: HistoryUpload) => number,
): HistorySummary {
  const zone = Zone.get(timeZone);
  const months: MonthSummary[] = [];
  const zero = (): HistoryCounts => ({
    runs: 0,
    uploads: 0,
    fulls: 0,
    deletes: 0,
    deepestChain: 0,
    ...(bytesOf ? { uploadedBytes: 0 } : {}),
  });
  const total: HistorySummary = { months, ...zero() };
  for (const r of runs) {
    const w = zone.wall(r.at.epochMilliseconds);
    const key = `${String(w.year).padStart(4, "0")}-${
      String(w.month).padStart(2, "0")
    }`;
    let m = months[months.length - 1];
    if (m?.month !== key) {
      m = { month: key, ...zero() };
      months.push(m);
    }
    for (const s of [m, total]) {
      s.runs++;
      s.uploads += r.uploads.length;
      s.deletes += r.deleted.length;
      for (const u of r.uploads) {
        if (u.parentUuid === null) s.fulls++;
        s.deepestChain = Math.max(s.deepestChain, u.depth);
        if (bytesOf) s.uploadedBytes! += bytesOf(u);
      }
    }
  }
  return total;
}
