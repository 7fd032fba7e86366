/**
 * Domain types shared by the btrfs driver, the key codec, the planner, the
 * executor and the commands. Plain data only, so plans can be printed as JSON
 * and tested without root.
 *
 * @module
 */

/** The all-zero uuid btrfs uses for "none" and btrfs2s3 writes as `.sndp` of a full backup. */
export const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** A btrfs subvolume's identity and times, as BTRFS_IOC_GET_SUBVOL_INFO reports them. */
export interface SubvolumeInfo {
  /** Absolute path of the subvolume. */
  path: string;
  /** Subvolume (tree) id. */
  id: number;
  /** Lowercase canonical uuid (8-4-4-4-12). */
  uuid: string;
  /** Uuid of the subvolume this one is a snapshot of; null when zero. */
  parentUuid: string | null;
  /** Uuid this subvolume was received from (btrfs receive); null when zero. */
  receivedUuid: string | null;
  /** Transid of the last change; a snapshot carries its source's. */
  ctransid: number;
  /** Transid at creation. */
  otransid: number;
  /** Time of the last change; a snapshot carries its source's. */
  ctime: Temporal.Instant;
  /** Creation time. */
  otime: Temporal.Instant;
  /** Whether the subvolume is read-only (BTRFS_SUBVOL_RDONLY). */
  readOnly: boolean;
}

/** What the planner needs to know of one snapshot. */
export interface SnapshotRef {
  /** The snapshot's uuid. */
  uuid: string;
  /** The source's ctransid when the snapshot was taken. */
  ctransid: number;
  /** The source's ctime when the snapshot was taken. */
  ctime: Temporal.Instant;
  /** Absolute path in the snapshot directory. */
  path: string;
}

/** The metadata a backup's key carries (`.ctim`, `.ctid`, `.uuid`, `.sndp`, `.prnt`). */
export interface BackupKeyFields {
  /** Source directory name in the key (the part before the first metadata suffix). */
  name: string;
  /** `.ctim`, whole seconds. */
  ctime: Temporal.Instant;
  /** `.ctid`. */
  ctransid: number;
  /** `.uuid`: the snapshot this backup was sent from. */
  uuid: string;
  /** `.sndp`: the snapshot it was sent against; null for a full backup (zero uuid). */
  sendParentUuid: string | null;
  /** `.prnt`: the source subvolume's uuid. */
  sourceUuid: string;
  /** Suffixes of the key that are not metadata (e.g. `["zst", "age"]`), in key order. */
  suffixes: string[];
}

/** One backup in a remote: the objects of one (snapshot, send parent) pair. */
export interface BackupInfo extends BackupKeyFields {
  /** Keys of the objects, in `.seqn` order (one for most backups). Relative to the remote's prefix. */
  keys: string[];
  /** Total bytes of all objects, when the listing told. */
  size?: number;
  /** Storage class of the first object, when the listing told. */
  storageClass?: string;
  /** When the first object was stored, when the listing told. */
  uploaded?: Temporal.Instant;
  /** Object lock retention of the first object, when it was read (remotes with object lock). */
  retainUntil?: Temporal.Instant;
}
