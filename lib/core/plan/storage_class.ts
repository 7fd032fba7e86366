/**
 * Storage classes: which class a new backup is stored in, which classes must
 * be retrieved before they can be read, which bill a minimum duration, and
 * the warnings a plan gets from them.
 *
 * @module
 */

import type { StorageClasses } from "../config_types.ts";
import { UNITS } from "../policy/grammar.ts";
import { PRICE_TABLES } from "../prices/prices.ts";
import type { KeepReason, Unit } from "../policy/vocabulary.ts";
import { type BackupVerdict, verdictFacts } from "./plan.ts";

/** Classes whose objects cannot be read before a restore request completes (AWS S3). */
export const ARCHIVE_CLASSES: readonly string[] = ["GLACIER", "DEEP_ARCHIVE"];

/**
 * Days each class bills at least, from the price tables (AWS S3: STANDARD_IA
 * 30, GLACIER_IR and GLACIER 90, DEEP_ARCHIVE 180; Cloudflare R2's
 * STANDARD_IA 30): an object deleted sooner costs the rest anyway.
 */
export const MIN_STORAGE_DAYS: Readonly<Record<string, number>> = (() => {
  const out: Record<string, number> = {};
  for (const table of Object.values(PRICE_TABLES)) {
    for (const [name, c] of Object.entries(table.storageClasses)) {
      if (c.minimumDays) out[name] = Math.max(out[name] ?? 0, c.minimumDays);
    }
  }
  return out;
})();

/** The usual wait of a retrieval, by class and tier (AWS's documented times). */
export const RETRIEVAL_TIMES: Readonly<Record<string, Record<string, string>>> =
  {
    GLACIER: {
      Expedited: "1-5 minutes",
      Standard: "3-5 hours",
      Bulk: "5-12 hours",
    },
    DEEP_ARCHIVE: { Standard: "within 12 hours", Bulk: "within 48 hours" },
  };

/**
 * Whether objects of this class must be retrieved before they can be read.
 *
 * @param storageClass A class as S3 names it; absent means STANDARD.
 * @returns True for GLACIER and DEEP_ARCHIVE.
 */
export function isArchiveClass(storageClass: string | undefined): boolean {
  return storageClass !== undefined && ARCHIVE_CLASSES.includes(storageClass);
}

/**
 * The class of a new backup: that of the longest timeframe it is kept for
 * (the coarsest unit among its reasons that has a class), else `fallback`.
 *
 * @param reasons Why the backup is kept.
 * @param classes The upload's classes by unit.
 * @param fallback The class when none applies (undefined: the store's default).
 * @returns The class to store it in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storageClassFor } from "./storage_class.ts";
 * const reasons = [
 *   { kind: "interval", unit: "y", label: "2024", remoteId: "aws" },
 *   { kind: "interval", unit: "d", label: "2024-01-01", remoteId: "aws" },
 * ] as const;
 * assert.equal(storageClassFor([...reasons], { y: "GLACIER" }), "GLACIER");
 * assert.equal(storageClassFor([reasons[1]], { y: "GLACIER" }), undefined);
 * ```
 */
export function storageClassFor(
  reasons: readonly KeepReason[],
  classes: StorageClasses | undefined,
  fallback?: string,
): string | undefined {
  if (classes === undefined) return fallback;
  let best: Unit | undefined;
  for (const r of reasons) {
    if (!("unit" in r) || r.unit === undefined) continue;
    if (classes[r.unit] === undefined) continue;
    if (best === undefined || UNITS.indexOf(r.unit) < UNITS.indexOf(best)) {
      best = r.unit;
    }
  }
  return best === undefined ? fallback : classes[best];
}

/** Input of {@linkcode storageClassWarnings}. */
export interface StorageClassWarningsInput {
  /** Remote id. */
  remoteId: string;
  /** The instant of the plan. */
  now: Temporal.Instant;
  /** The remote's verdicts, sorted by ctransid (uploads carry their class). */
  verdicts: readonly BackupVerdict[];
  /** Planned expiry by uuid (epoch ms), for new backups' minimum durations. */
  expiries?: ReadonlyMap<string, number>;
  /** A backup's short name for messages. */
  nameOf: (v: BackupVerdict) => string;
}

/**
 * Warnings about storage classes in one remote's plan: the newest backup
 * depends on archived ancestors (restoring it waits for a retrieval); a
 * planned delete (or a new backup's planned expiry) falls before its class's
 * minimum duration (the rest is billed anyway).
 *
 * @param input The remote's verdicts and how to name them.
 * @returns The warning lines.
 */
export function storageClassWarnings(
  input: StorageClassWarningsInput,
): string[] {
  const { remoteId, now, verdicts, nameOf } = input;
  const out: string[] = [];
  const nowMs = now.epochMilliseconds;
  const days = (ms: number) => Math.max(0, Math.floor(ms / 86_400_000));
  const classOf = (v: BackupVerdict): string | undefined =>
    v.kind === "existing" ? v.backup.storageClass : v.upload.storageClass;
  for (const v of verdicts) {
    const sc = classOf(v);
    const min = sc === undefined ? undefined : MIN_STORAGE_DAYS[sc];
    if (min === undefined) continue;
    if (v.kind === "existing" && !v.keep && v.lockedUntil === undefined) {
      // Stored no earlier than its snapshot was taken.
      const since = (v.backup.uploaded ?? v.backup.ctime).epochMilliseconds;
      const age = days(nowMs - since);
      if (age < min) {
        out.push(
          `remote ${remoteId}: deleting ${
            nameOf(v)
          } after ${age} days, but ${sc} bills at least ${min} days: the rest is charged anyway`,
        );
      }
    }
    if (v.kind === "new") {
      const e = input.expiries?.get(verdictFacts(v).uuid);
      if (e !== undefined && e - nowMs < min * 86_400_000) {
        out.push(
          `remote ${remoteId}: ${
            nameOf(v)
          } goes to ${sc}, which bills at least ${min} days, but is planned to expire in ${
            days(e - nowMs)
          } days`,
        );
      }
    }
  }
  // The newest kept backup is what a restore most likely wants.
  const kept = verdicts.filter((v) => v.keep);
  const newest = kept[kept.length - 1];
  if (newest === undefined) return out;
  const byUuid = new Map(kept.map((v) => [verdictFacts(v).uuid, v]));
  const archived: BackupVerdict[] = [];
  const seen = new Set<string>();
  for (
    let p = verdictFacts(newest).sendParentUuid;
    p !== null && !seen.has(p);
  ) {
    seen.add(p);
    const parent = byUuid.get(p);
    if (parent === undefined) break;
    if (isArchiveClass(classOf(parent))) archived.push(parent);
    p = verdictFacts(parent).sendParentUuid;
  }
  if (archived.length > 0) {
    const classes = [...new Set(archived.map(classOf))].join(", ");
    out.push(
      `remote ${remoteId}: the newest backup ${
        nameOf(newest)
      } depends on ${archived.length} archived backup(s) (${classes}: ${
        archived.map(nameOf).join(", ")
      }); restoring it waits for their retrieval first (hours)`,
    );
  }
  return out;
}
