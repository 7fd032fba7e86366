/**
 * snap2s3: btrfs snapshots, kept as a tree of full and differential
 * `btrfs send` backups in S3-compatible storage or a local directory, shaped
 * by a preservation policy such as `1y 3m 30d 24h`.
 *
 * @module
 */

export { ZERO_UUID } from "./lib/types.ts";
export type { BackupInfo, SnapshotRef, SubvolumeInfo } from "./lib/types.ts";
