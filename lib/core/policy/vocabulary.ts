/**
 * The policy's vocabulary: units, and why something is kept. The plan
 * reuses these types; they live here so the policy depends on nothing above it.
 *
 * @module
 */

/** Policy units, as in the policy string (`m` months, `M` minutes). */
export type Unit = "y" | "q" | "m" | "w" | "d" | "h" | "M" | "s";

/** Why a snapshot or backup is kept; rendered by the preview. */
export type KeepReason =
  | {
    kind: "interval";
    unit: Unit;
    label: string;
    remoteId: string;
  }
  | { kind: "most-recent"; remoteId?: string }
  | { kind: "ancestor"; remoteId: string }
  | { kind: "no-snapshot"; remoteId: string; unit?: Unit; label?: string }
  | {
    kind: "snapshot-is-newer";
    remoteId: string;
    unit?: Unit;
    label?: string;
  };

/**
 * Facts about a backup: `new` (to upload), `replacing-newer` (uploaded
 * although the interval has a newer-ctransid backup), `no-snapshot` (kept
 * for an interval whose snapshot is gone), `snapshot-is-newer` (kept for an
 * interval whose nominal snapshot is newer and is not uploaded), `repair`
 * (uploaded again because the backup of that snapshot, or of an ancestor a
 * kept backup needs, is missing or broken), `broken` (an existing backup
 * whose send-parent chain is broken: it cannot be restored, counts as absent
 * and is deleted after the run's uploads).
 */
export type BackupFlag =
  | "new"
  | "replacing-newer"
  | "no-snapshot"
  | "snapshot-is-newer"
  | "repair"
  | "broken";
