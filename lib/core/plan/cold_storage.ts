/**
 * The planner's one step for object lock and storage classes in a remote:
 * planned expiries, the class of each new backup, retentions, deferred
 * deletes and the warnings that come with them.
 *
 * @module
 */

import { snapshotName } from "../snapshot_names.ts";
import type { Policy } from "../policy/grammar.ts";
import type { IntervalCalendar } from "../policy/intervals.ts";
import {
  type BackupVerdict,
  type RemoteInventory,
  type RetentionExtension,
  verdictFacts,
} from "./plan.ts";
import { plannedExpiries, planObjectLock } from "./retention.ts";
import { storageClassFor, storageClassWarnings } from "./storage_class.ts";

/** Input of {@linkcode planColdStorage}. */
export interface ColdStorageInput {
  /** The remote as the planner sees it. */
  remote: RemoteInventory;
  /** Its parsed policy. */
  policy: Policy;
  /** Interval arithmetic in the configured zone. */
  calendar: IntervalCalendar;
  /** The instant of the plan. */
  now: Temporal.Instant;
  /** The zone of snapshot names in messages. */
  timeZone: string;
  /** The source's name, for snapshot names in messages. */
  sourceName: string;
  /** The remote's verdicts (existing and planned), sorted; changed in place. */
  verdicts: BackupVerdict[];
}

/** What {@linkcode planColdStorage} decided. */
export interface ColdStoragePlan {
  /** Kept backups whose retention is set or extended. */
  retentions: RetentionExtension[];
  /** Uuids of backups the policy drops that are not deleted yet (locked). */
  deferred: Set<string>;
  /** Lines for the plan's warnings. */
  warnings: string[];
}

/**
 * Storage classes and object lock for one remote. Without either configured
 * (and with no class-bearing backups to warn about) it changes nothing.
 *
 * @param input The remote, its policy and verdicts.
 * @returns Retentions, deferred deletes and warnings; verdicts and uploads gain `expiry`, `lockedUntil`, `storageClass` and `lock`.
 */
export function planColdStorage(input: ColdStorageInput): ColdStoragePlan {
  const { remote, verdicts, now } = input;
  for (const v of verdicts) {
    if (v.kind !== "new") continue;
    const sc = storageClassFor(
      v.reasons,
      remote.storageClasses,
      remote.storageClass,
    );
    if (sc !== undefined) v.upload.storageClass = sc;
  }
  const configured = remote.objectLock !== undefined ||
    remote.storageClasses !== undefined || remote.storageClass !== undefined;
  const expiries = configured
    ? plannedExpiries({
      policy: input.policy,
      calendar: input.calendar,
      now,
      verdicts,
      extraDays: remote.objectLock?.extraDays,
    })
    : undefined;
  if (expiries !== undefined) {
    for (const v of verdicts) {
      const e = v.keep ? expiries.get(verdictFacts(v).uuid) : undefined;
      if (e !== undefined && Number.isFinite(e)) {
        v.expiry = Temporal.Instant.fromEpochMilliseconds(e);
      }
    }
  }
  const lock = remote.objectLock && expiries
    ? planObjectLock({
      remoteId: remote.id,
      lock: remote.objectLock,
      now,
      verdicts,
      expiries,
    })
    : { retentions: [], deferred: new Set<string>() };
  // Only where the config chooses classes: a listing's classes alone (set by
  // a lifecycle rule, say) are shown but not second-guessed.
  const classes = remote.storageClasses !== undefined ||
    remote.storageClass !== undefined;
  const warnings = !classes ? [] : storageClassWarnings({
    remoteId: remote.id,
    now,
    verdicts,
    expiries,
    nameOf: (v) => {
      const f = verdictFacts(v);
      const name = v.kind === "existing" ? v.backup.name : input.sourceName;
      return snapshotName(name, f.ctime, f.ctransid, input.timeZone);
    },
  });
  return { ...lock, warnings };
}
