/**
 * snap2s3: btrfs snapshots, kept as a tree of full and differential
 * `btrfs send` backups in S3-compatible storage or a local directory, shaped
 * by a preservation policy such as `1y 3m 30d 24h`.
 *
 * A policy file is a TypeScript module (`snap2s3 init DIR` writes one, with
 * a `deno.json` beside it mapping `snap2s3` to this module):
 *
 * ```ts
 * import { btrfs, defineConfig, localDir, zstd } from "snap2s3";
 *
 * export default defineConfig({
 *   timezone: "Europe/Berlin",
 *   remotes: [localDir({ id: "usb", path: "/mnt/usb/backups" })],
 *   sources: [btrfs({
 *     path: "/home",
 *     snapshots: "/.snapshots",
 *     upload: [{ remote: "usb", preserve: "1y 3m 30d 24h", pipe: [zstd()] }],
 *   })],
 * });
 * ```
 *
 * @module
 */

// Config as code.
export {
  age,
  b2,
  btrfs,
  cmd,
  defineConfig,
  gpg,
  gzip,
  healthchecks,
  localDir,
  r2,
  s3,
  zstd,
} from "./lib/app/config/define.ts";
export { validateConfig } from "./lib/app/config/validate.ts";
export type * from "./lib/core/config_types.ts";
export type { ConfigProblem } from "./lib/app/config/error.ts";
export { loadConfig } from "./lib/app/config/load.ts";
export { parseBtrfs2s3Yaml } from "./lib/app/config/yaml.ts";

// Operations.
export { update } from "./lib/app/commands/update.ts";
export type { UpdateOptions, UpdateResult } from "./lib/app/commands/update.ts";
export type { UploadRecord } from "./lib/app/world.ts";
export type { RetryInfo } from "./lib/drivers/remote/retry.ts";
export type { ExecuteReport, FailedUpload } from "./lib/core/plan/executor.ts";
export { restore } from "./lib/app/commands/restore.ts";
export type {
  ReceivedBackup,
  RestoreOptions,
  RestoreResult,
} from "./lib/app/commands/restore.ts";
export { listBackups } from "./lib/app/commands/list_backups.ts";
export type {
  BackupListing,
  ListBackupsOptions,
  ListedBackup,
} from "./lib/app/commands/list_backups.ts";
export { status } from "./lib/app/commands/status.ts";
export type {
  StatusBackup,
  StatusEntry,
  StatusOptions,
  StatusReport,
} from "./lib/app/commands/status.ts";
export type { Output } from "./lib/app/output.ts";

// Policy and planning, for what-if tools.
export { parsePolicy } from "./lib/core/policy/grammar.ts";
export type { Policy, Unit } from "./lib/core/policy/grammar.ts";
export { plan } from "./lib/core/plan/planner.ts";
export { GuardError, type GuardKind } from "./lib/core/plan/guards.ts";
export { planToJson, renderPlan } from "./lib/core/plan/preview.ts";
export type {
  BackupFlag,
  BackupVerdict,
  BackupVerdictCommon,
  ExistingBackupVerdict,
  KeepReason,
  MassDeletion,
  NewBackupVerdict,
  Plan,
  PlanInput,
  RemoteInventory,
  Retention,
  RetentionExtension,
  SnapshotVerdict,
  SourceInventory,
  SourcePlan,
  Upload,
} from "./lib/core/plan/plan.ts";
export type { RenderOptions } from "./lib/core/plan/preview.ts";
export { encodeKey, parseKey } from "./lib/core/keys.ts";
export type { BackupKey, ParsedKey } from "./lib/core/keys.ts";

// Domain types.
export { ZERO_UUID } from "./lib/core/types.ts";
export type {
  BackupInfo,
  BackupKeyFields,
  SnapshotRef,
  SubvolumeInfo,
} from "./lib/core/types.ts";

// Errors a caller may meet, to branch on with `instanceof`.

/**
 * A config that fails validation (from {@linkcode loadConfig},
 * {@linkcode validateConfig}, {@linkcode update}, ...): one line per problem,
 * naming the field path; `problems` lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, validateConfig } from "./mod.ts";
 * assert.throws(() => validateConfig({ timezone: "UTC" }), ConfigError);
 * ```
 */
export { ConfigError } from "./lib/app/config/error.ts";
/** A preservation policy that does not follow the grammar ({@linkcode parsePolicy}); `token` is the offending part. */
export { PolicySyntaxError } from "./lib/core/policy/grammar.ts";
/**
 * An update that could not succeed as started, found before anything changed
 * (a program missing or not allowed by `--allow-run`, no CAP_SYS_ADMIN, FFI
 * not allowed, a remote that is not there); `problems` lists each with its fix.
 */
export { PreflightError } from "./lib/app/preflight_error.ts";
export type {
  PreflightKind,
  PreflightProblem,
} from "./lib/app/preflight_error.ts";
/** A btrfs operation that failed (not a subvolume, not root, btrfs-progs missing, ...); `code` says which. */
export { BtrfsError } from "./lib/drivers/btrfs/errors.ts";
export type { BtrfsErrorCode } from "./lib/drivers/btrfs/errors.ts";
/** A remote that refused or kept failing after retries; `code`, `status` and `transient` describe the last fault. */
export { RemoteError } from "./lib/drivers/remote/errors.ts";
/** A local remote directory without its snap2s3 marker while the sources have snapshots: is the disk mounted? Pass `initRemote` when the directory is new. */
export { UnmarkedRemoteError } from "./lib/drivers/remote/errors.ts";
/** A restored backup whose bytes do not match its recorded SHA-256 (or size). */
export { IntegrityError } from "./lib/drivers/transfer/download.ts";
/** A pipe stage (zstd, age, ...) or `btrfs send`/`receive` that failed; `failures` names each stage. */
export { PipelineError } from "./lib/drivers/pipe/pipeline.ts";
export type { StageFailure } from "./lib/drivers/pipe/pipeline.ts";
/** An upload whose input stream failed; the upload was undone, so no backup appears. */
export { ProducerError } from "./lib/drivers/transfer/upload.ts";
/** A restore in which backups failed to receive (the others were restored); `result` says what was. */
export { RestoreError } from "./lib/app/commands/restore.ts";
/** Archived backups (GLACIER, DEEP_ARCHIVE) whose retrieval was asked for are not readable yet: try again later (exit 75), or restore with `retrieval.wait`. */
export { RetrievalPendingError } from "./lib/app/retrieval.ts";
export type { RetrievalOptions, RetrievalReport } from "./lib/app/retrieval.ts";
export type { RestoreTier } from "./lib/drivers/remote/cold_storage.ts";
/** A restore selection that cannot be made; `kind` is `bad-input`, `ambiguous` (same-named sources) or `not-found`. */
export { SelectionError } from "./lib/core/restore_selection.ts";
export type { SelectionErrorKind } from "./lib/core/restore_selection.ts";
/**
 * Another run holds the lock of a source (update) or destination (restore);
 * `holder` names it (pid, host, start time), when its lock file says. The CLI
 * exits 75 (try again later); `waitLock` in the options waits instead.
 */
export { LockHeldError } from "./lib/app/lock.ts";
export type { LockHolder } from "./lib/app/lock.ts";
/**
 * A run stopped by SIGINT or SIGTERM (the reason of the CLI's abort signal);
 * `exitCode` is 130 or 143.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InterruptedError } from "./mod.ts";
 * assert.equal(new InterruptedError("SIGTERM").exitCode, 143);
 * ```
 */
export { InterruptedError } from "./lib/app/interrupt.ts";
export type { InterruptSignal } from "./lib/app/interrupt.ts";
