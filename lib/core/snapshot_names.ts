/**
 * Snapshot names in the snapshot directory, as btrfs2s3 writes them. Names
 * are written, never parsed: a snapshot is recognised by its parent uuid.
 *
 * @module
 */

import { formatIsoSeconds } from "./zone.ts";

/**
 * Canonical name of a snapshot: `<name>.<ctime ISO>.<ctransid>`, the ctime in
 * whole seconds with the zone's offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotName } from "./snapshot_names.ts";
 * const ctime = Temporal.Instant.from("2024-05-01T01:00:00Z");
 * assert.ok(
 *   snapshotName("home", ctime, 1234, "America/Los_Angeles") ===
 *     "home.2024-04-30T18:00:00-07:00.1234",
 * );
 * ```
 */
export function snapshotName(
  name: string,
  ctime: Temporal.Instant,
  ctransid: number,
  timeZone: string,
): string {
  return `${name}.${formatIsoSeconds(ctime, timeZone)}.${ctransid}`;
}

/** Temporary name of a snapshot being created: `<name>.NEW.<pid>`. */
export function newSnapshotName(name: string, pid: number): string {
  return `${name}.NEW.${pid}`;
}
