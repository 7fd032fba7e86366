/**
 * The unmounted-disk guard: a local-directory remote carries a marker file
 * (written with its first object). When a source that uploads to it already
 * has snapshots but the marker is missing, the directory is most likely an
 * unmounted disk's mount point, and writing a full backup there would fill
 * the root filesystem: the run is refused unless the user says the
 * directory is new (`initRemote`).
 *
 * @module
 */

import { basename } from "node:path";
import type { SourceInventory } from "../core/plan/plan.ts";
import { isManagedSnapshotName } from "../core/snapshot_names.ts";
import { UnmarkedRemoteError } from "../drivers/remote/errors.ts";
import type { RemoteMarker } from "../drivers/remote/remote.ts";
import type { RemoteSet } from "./remotes.ts";

/**
 * Throws {@linkcode UnmarkedRemoteError} for the first local remote that
 * lacks its marker while a source uploading to it has snapshots of ours. A remote
 * that already holds backups is plainly the right directory (written before
 * markers existed), as is any when `init` is set: their markers are
 * returned, for the caller to write once it acts.
 */
export async function checkRemoteMarkers(
  sources: readonly SourceInventory[],
  remotes: RemoteSet,
  init = false,
): Promise<RemoteMarker[]> {
  const missing = new Map<string, RemoteMarker>();
  for (const source of sources) {
    // Foreign snapshots (made by hand or another tool) may predate us.
    const ours = source.snapshots.some((s) =>
      isManagedSnapshotName(basename(s.path), source.name)
    );
    if (!ours) continue;
    for (const { id } of source.remotes) {
      const marker = remotes.get(id).marker;
      if (!marker || missing.has(id) || await marker.present()) continue;
      const adopt = init || (await remotes.listing(id)).backups.length > 0;
      if (!adopt) throw new UnmarkedRemoteError(id, marker.path, source.path);
      missing.set(id, marker);
    }
  }
  return [...missing.values()];
}
