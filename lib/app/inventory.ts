/**
 * The planner's input read from the world: each source's subvolume and
 * snapshots from btrfs, each remote's backups from its listing.
 *
 * @module
 */

import { basename } from "node:path";
import { isDirectory } from "../drivers/is_directory.ts";
import type { Config } from "../core/config_types.ts";
import {
  getSubvolumeInfo,
  listSnapshots,
  syncFilesystem,
} from "../drivers/btrfs/driver.ts";
import { keySuffixes } from "../drivers/pipe/stages.ts";
import type { SourceInventory } from "../core/plan/plan.ts";
import type { SnapshotRef } from "../core/types.ts";
import type { RemoteSet } from "./remotes.ts";
import { readRetentions } from "./object_lock.ts";
import type { RemoteInventory } from "../core/plan/plan.ts";

/** Leaves out the optional fields that are not set (so plans compare equal without them). */
function compactRemote(r: RemoteInventory): RemoteInventory {
  const out = { ...r };
  for (const k of ["objectLock", "storageClasses", "storageClass"] as const) {
    if (out[k] === undefined) delete out[k];
  }
  return out;
}

/**
 * Reads every source and the remotes it uploads to into the planner's input.
 *
 * @param config A validated config.
 * @param remotes The config's remotes (each listed at most once).
 * @returns One inventory per source, in config order.
 */
export async function inventory(
  config: Config,
  remotes: RemoteSet,
): Promise<SourceInventory[]> {
  const sources: SourceInventory[] = [];
  for (const src of config.sources) {
    // btrfs bumps ctransid only at commit (every 30 s by default): sync first so a write just made is seen.
    await syncFilesystem(src.path);
    const info = await getSubvolumeInfo(src.path);
    let snapshots: SnapshotRef[] = [];
    if (await isDirectory(src.snapshots)) {
      snapshots = (await listSnapshots(info, src.snapshots)).map((s) => ({
        uuid: s.uuid,
        ctransid: s.ctransid,
        ctime: s.ctime,
        path: s.path,
      }));
    }
    const inv: SourceInventory = {
      path: info.path,
      name: basename(info.path),
      uuid: info.uuid,
      ctransid: info.ctransid,
      ctime: info.ctime,
      snapshotDir: src.snapshots,
      snapshots,
      remotes: [],
    };
    for (const up of src.upload) {
      const listing = await remotes.listing(up.remote);
      const remote = config.remotes.find((r) => r.id === up.remote);
      const lock = remote?.kind === "local" ? undefined : remote?.objectLock;
      let backups = listing.backups.filter((b) => b.sourceUuid === info.uuid);
      // The planner defers deletes and extends retentions from what the objects hold.
      if (lock) backups = await readRetentions(remotes.get(up.remote), backups);
      const storageClass = up.storageClass ??
        (remote?.kind === "local" ? undefined : remote?.storageClass);
      inv.remotes.push(compactRemote({
        id: up.remote,
        preserve: up.preserve,
        keySuffixes: keySuffixes(up.pipe),
        backups,
        objectLock: lock,
        storageClasses: up.storageClasses,
        storageClass,
      }));
    }
    sources.push(inv);
  }
  return sources;
}
