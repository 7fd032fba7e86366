/**
 * The config types, written out so they read well in the docs. They are not
 * a second source of truth: lib/app/config/types_match.ts asserts at compile time that
 * each one is identical to the type zod infers from the schema, so a change
 * to either without the other fails `deno check`.
 *
 * `…Input` types are what users write; the others are what validation
 * returns (defaults filled in, endpoints derived).
 *
 * @module
 */

/** Compress with zstd; key suffix `.zst`. */
export interface ZstdStageInput {
  /** Tag. */
  kind: "zstd";
  /** Compression level 1-22 (20-22 use `--ultra`); default zstd's own (3). */
  level?: number;
}

/** Compress with gzip; key suffix `.gz`. */
export interface GzipStageInput {
  /** Tag. */
  kind: "gzip";
  /** Compression level 1-9; default gzip's own (6). */
  level?: number;
}

/** Encrypt with age; key suffix `.age`. */
export interface AgeStageInput {
  /** Tag. */
  kind: "age";
  /** Public keys to encrypt to: `age1...` or SSH public keys. */
  recipients: string[];
  /** Absolute path of the identity (private key) restore decrypts with. */
  identityFile?: string;
}

/** Encrypt with gpg to a key in the keyring; key suffix `.gpg`. */
export interface GpgStageInput {
  /** Tag. */
  kind: "gpg";
  /** Key id, fingerprint or email. */
  recipient: string;
}

/** Any command reading stdin and writing stdout. */
export interface CmdStageInput {
  /** Tag. */
  kind: "cmd";
  /** Program and arguments. */
  argv: string[];
  /** The command that undoes it, for restore. */
  inverse?: string[];
  /** Key suffix (no dots); none by default, as btrfs2s3's `pipe_through`. */
  suffix?: string;
}

/** A stage the backup stream is piped through before upload. */
export type PipeStage =
  | ZstdStageInput
  | GzipStageInput
  | AgeStageInput
  | GpgStageInput
  | CmdStageInput;

/** A pipe stage as users write it (the same as {@linkcode PipeStage}). */
export type PipeStageInput = PipeStage;

/**
 * S3 Object Lock on a remote: every object of a backup, and its manifest, is
 * retained until the backup's planned expiry (the end of the last interval
 * that keeps it, or of the last backup that needs it), plus `extraDays`.
 * The bucket must have object lock enabled.
 */
export interface ObjectLock {
  /** `GOVERNANCE`: users with s3:BypassGovernanceRetention may still delete; `COMPLIANCE`: nobody can. */
  mode: "GOVERNANCE" | "COMPLIANCE";
  /** Days added to each backup's planned expiry, 0-36500; default 0. */
  extraDays?: number;
}

/**
 * A storage class per policy unit: each new backup is stored in the class of
 * the longest timeframe it is kept for when uploaded (`{ y: "GLACIER" }`
 * stores the yearly backups as GLACIER, the rest in the default class).
 */
export interface StorageClasses {
  /** Class of backups kept for a year. */
  y?: string;
  /** Class of backups kept for a quarter. */
  q?: string;
  /** Class of backups kept for a month. */
  m?: string;
  /** Class of backups kept for a week. */
  w?: string;
  /** Class of backups kept for a day. */
  d?: string;
  /** Class of backups kept for an hour. */
  h?: string;
  /** Class of backups kept for a minute. */
  M?: string;
  /** Class of backups kept for a second. */
  s?: string;
}

/** Fields every S3-compatible remote (s3, r2, b2) accepts. */
export interface S3CommonInput {
  /** The id uploads refer to. */
  id: string;
  /** Bucket name. */
  bucket: string;
  /** Prepended verbatim to every key, e.g. `"laptop/"`. */
  prefix?: string;
  /** Force path-style URLs; default: the driver's choice. */
  pathStyle?: boolean;
  /** Profile in ~/.aws/config and ~/.aws/credentials. */
  profile?: string;
  /** Access key id; give together with `secretAccessKey`. */
  accessKeyId?: string;
  /** Secret access key; give together with `accessKeyId`. */
  secretAccessKey?: string;
  /** Verify the endpoint's TLS certificate; default true. */
  verifyTls?: boolean;
  /** Absolute path of a PEM file of CA certificates. */
  caBundle?: string;
  /** Storage class for new objects, unless an upload sets its own. */
  storageClass?: string;
  /** Multipart part size in MiB, 5-5120. */
  partSizeMiB?: number;
  /** Parts uploaded at once, 1-64. */
  concurrency?: number;
  /**
   * Most MiB of part buffers one upload or download holds, 10-65536
   * (default 80); sets the part size and concurrency not given.
   */
  memoryMiB?: number;
  /** Bandwidth limit of uploads and of downloads, each, e.g. `"20MiB/s"` or `"100Mbit/s"`; `--bwlimit` overrides it. */
  bandwidth?: string;
  /** Retain every object until its backup's planned expiry (S3 Object Lock). */
  objectLock?: ObjectLock;
}

/** AWS S3, or any S3-compatible server given its `endpoint`, as users write it. */
export interface S3RemoteInput extends S3CommonInput {
  /** Tag. */
  kind: "s3";
  /** AWS region, e.g. `eu-central-1`; default from the profile or environment. */
  region?: string;
  /** Full URL, e.g. `https://rgw.example.com`; default AWS. */
  endpoint?: string;
}

/** Cloudflare R2, as users write it. */
export interface R2RemoteInput extends S3CommonInput {
  /** Tag. */
  kind: "r2";
  /** Cloudflare account id: 32 lowercase hex digits. */
  accountId: string;
  /** Default `auto`. */
  region?: string;
  /** Default `https://<accountId>.r2.cloudflarestorage.com`. */
  endpoint?: string;
}

/** Backblaze B2 (S3-compatible API), as users write it. */
export interface B2RemoteInput extends S3CommonInput {
  /** Tag. */
  kind: "b2";
  /** E.g. `us-west-004`, from the bucket's endpoint `s3.<region>.backblazeb2.com`. */
  region: string;
  /** Default `https://s3.<region>.backblazeb2.com`. */
  endpoint?: string;
}

/** A local directory (USB disk, NAS mount): each object is a file named by its key. */
export interface LocalRemoteInput {
  /** Tag. */
  kind: "local";
  /** The id uploads refer to. */
  id: string;
  /** Absolute path of the directory. */
  path: string;
}

/** A remote as users write it. */
export type RemoteInput =
  | S3RemoteInput
  | R2RemoteInput
  | B2RemoteInput
  | LocalRemoteInput;

/** A validated S3 remote. */
export interface S3Remote extends Omit<S3RemoteInput, "verifyTls"> {
  /** Verify the endpoint's TLS certificate. */
  verifyTls: boolean;
}

/** A validated R2 remote, region and endpoint filled in. */
export interface R2Remote
  extends Omit<R2RemoteInput, "verifyTls" | "region" | "endpoint"> {
  /** Verify the endpoint's TLS certificate. */
  verifyTls: boolean;
  /** `auto` unless given. */
  region: string;
  /** Derived from `accountId` unless given. */
  endpoint: string;
}

/** A validated B2 remote, endpoint filled in. */
export interface B2Remote
  extends Omit<B2RemoteInput, "verifyTls" | "endpoint"> {
  /** Verify the endpoint's TLS certificate. */
  verifyTls: boolean;
  /** Derived from `region` unless given. */
  endpoint: string;
}

/** A validated local directory remote. */
export type LocalRemote = LocalRemoteInput;

/** A validated remote. */
export type Remote = S3Remote | R2Remote | B2Remote | LocalRemote;

/** Where and how a source is backed up, as users write it. */
export interface SourceUploadInput {
  /** Id of a remote in `remotes`. */
  remote: string;
  /** Preservation policy, e.g. `1y 3m 30d 24h`. */
  preserve: string;
  /** Stages the `btrfs send` stream is piped through, in order; default none. */
  pipe?: PipeStage[];
  /** Storage class for this source's backups in this remote. */
  storageClass?: string;
  /** Storage class by the longest timeframe a new backup is kept for; before `storageClass`. */
  storageClasses?: StorageClasses;
}

/** A validated upload. */
export interface SourceUpload extends Omit<SourceUploadInput, "pipe"> {
  /** Stages in order; empty when none. */
  pipe: PipeStage[];
}

/** A btrfs subvolume to snapshot and back up, as users write it. */
export interface BtrfsSourceInput {
  /** Tag. */
  kind: "btrfs";
  /** Absolute path of the subvolume. */
  path: string;
  /** Absolute path of the directory its read-only snapshots live in. */
  snapshots: string;
  /** At least one. */
  upload: SourceUploadInput[];
}

/** A validated btrfs source. */
export interface BtrfsSource extends Omit<BtrfsSourceInput, "upload"> {
  /** Where and how it is backed up. */
  upload: SourceUpload[];
}

/** A source as users write it. */
export type SourceInput = BtrfsSourceInput;

/** A validated source. */
export type Source = BtrfsSource;

/**
 * A hook: a URL the run's JSON summary is POSTed to (healthchecks.io-style
 * pings work), or a command (program and arguments) that reads it on stdin.
 */
export type NotifyTarget = string | string[];

/** Hooks told about each update run; a failing hook is logged and never fails the run. */
export interface NotifyInput {
  /** Told when an update starts. */
  start?: NotifyTarget;
  /** Told when an update succeeded (or had nothing to do). */
  success?: NotifyTarget;
  /** Told when an update failed. */
  failure?: NotifyTarget;
}

/** Validated hooks (the same as {@linkcode NotifyInput}). */
export type Notify = NotifyInput;

/** A config as users write it (what `defineConfig` accepts). */
export interface ConfigInput {
  /** IANA time zone policy intervals are computed in, e.g. `Europe/Berlin` or `UTC`. */
  timezone: string;
  /** Subvolumes to back up. */
  sources: SourceInput[];
  /** At least one. */
  remotes: RemoteInput[];
  /** Hooks told when an update starts, succeeds or fails. */
  notify?: NotifyInput;
  /** Absolute path of a Prometheus textfile (ending `.prom`) rewritten after each update. */
  metricsFile?: string;
}

/** A validated config (what the program uses). */
export interface Config {
  /** IANA time zone policy intervals are computed in. */
  timezone: string;
  /** Subvolumes to back up. */
  sources: Source[];
  /** Where backups go. */
  remotes: Remote[];
  /** Hooks told when an update starts, succeeds or fails. */
  notify?: Notify;
  /** Absolute path of a Prometheus textfile rewritten after each update. */
  metricsFile?: string;
}
