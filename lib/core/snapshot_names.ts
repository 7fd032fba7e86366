/**
 * Snapshot names in the snapshot directory, as btrfs2s3 writes them. A
 * snapshot is ours when it is a read-only snapshot of the source (by parent
 * uuid) with one of these names; any other snapshot is foreign and never
 * touched.
 *
 * @module
 */

import { parseIsoInstant } from "./keys.ts";
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

/**
 * Whether a snapshot's base name is one snap2s3 (or btrfs2s3) gives a
 * snapshot of source `name`: `<name>.<ISO date-time>.<ctransid>` (any offset;
 * a name that is not the snapshot's own canonical one is renamed when kept)
 * or `<name>.NEW.<pid>` (a run's snapshot not yet renamed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isManagedSnapshotName } from "./snapshot_names.ts";
 * assert.ok(isManagedSnapshotName("home.2024-04-30T18:00:00-07:00.12", "home"));
 * assert.ok(isManagedSnapshotName("home.NEW.4242", "home"));
 * assert.ok(!isManagedSnapshotName("before-upgrade", "home"));
 * assert.ok(!isManagedSnapshotName("home.20241201T2201", "home"));
 * ```
 */
export function isManagedSnapshotName(base: string, name: string): boolean {
  if (!base.startsWith(`${name}.`)) return false;
  const rest = base.slice(name.length + 1);
  if (/^NEW\.[0-9]+$/.test(rest)) return true;
  const m = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[^.]+)\.([0-9]+)$/.exec(rest);
  return m !== null && parseIsoInstant(m[1]) !== null;
}
