/**
 * snap2s3: btrfs snapshots, kept as a tree of full and differential
 * `btrfs send` backups in S3-compatible storage or a local directory, shaped
 * by a preservation policy such as `1y 3m 30d 24h`.
 *
 * A policy file is a TypeScript module:
 *
 * ```ts
 * import { btrfs, defineConfig, localDir, zstd } from "./mod.ts";
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
  localDir,
  r2,
  s3,
  zstd,
} from "./lib/app/config/define.ts";
export { ConfigError, validateConfig } from "./lib/app/config/schema.ts";
export type * from "./lib/core/config_types.ts";
export type { ConfigProblem } from "./lib/app/config/schema.ts";
export { loadConfig } from "./lib/app/config/load.ts";
export { parseBtrfs2s3Yaml } from "./lib/app/config/yaml.ts";

// Operations.
export { update } from "./lib/app/commands/update.ts";
export type { UpdateOptions, UpdateResult } from "./lib/app/commands/update.ts";
export type { ExecuteReport } from "./lib/core/plan/executor.ts";
export { restore } from "./lib/app/commands/restore.ts";
export type {
  RestoreOptions,
  RestoreResult,
} from "./lib/app/commands/restore.ts";
export { listBackups } from "./lib/app/commands/list_backups.ts";
export type {
  BackupListing,
  ListedBackup,
} from "./lib/app/commands/list_backups.ts";
export type { Output } from "./lib/app/output.ts";

// Policy and planning, for what-if tools.
export { parsePolicy, PolicySyntaxError } from "./lib/core/policy/grammar.ts";
export type { Policy, Unit } from "./lib/core/policy/grammar.ts";
export { plan } from "./lib/core/plan/planner.ts";
export { planToJson, renderPlan } from "./lib/core/plan/preview.ts";
export type {
  BackupFlag,
  BackupVerdict,
  BackupVerdictCommon,
  ExistingBackupVerdict,
  KeepReason,
  NewBackupVerdict,
  Plan,
  PlanInput,
  RemoteInventory,
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
  SnapshotRef,
  SubvolumeInfo,
} from "./lib/core/types.ts";
