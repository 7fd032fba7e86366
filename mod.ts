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
} from "./lib/config/define.ts";
export { ConfigError, validateConfig } from "./lib/config/schema.ts";
export type * from "./lib/config/types.ts";
export type { ConfigProblem } from "./lib/config/schema.ts";
export { loadConfig } from "./lib/config/load.ts";
export { parseBtrfs2s3Yaml } from "./lib/config/yaml.ts";

// Operations.
export { update } from "./lib/commands/update.ts";
export type { UpdateOptions, UpdateResult } from "./lib/commands/update.ts";
export type { ExecuteReport } from "./lib/plan/executor.ts";
export { restore } from "./lib/commands/restore.ts";
export type { RestoreOptions, RestoreResult } from "./lib/commands/restore.ts";
export { listBackups } from "./lib/commands/list_backups.ts";
export type {
  BackupListing,
  ListedBackup,
} from "./lib/commands/list_backups.ts";
export type { Output } from "./lib/cli/log.ts";

// Policy and planning, for what-if tools.
export { parsePolicy, PolicySyntaxError } from "./lib/policy/grammar.ts";
export type { Policy, Unit } from "./lib/policy/grammar.ts";
export { plan } from "./lib/plan/planner.ts";
export { planToJson, renderPlan } from "./lib/plan/preview.ts";
export type {
  BackupFlag,
  BackupVerdict,
  KeepReason,
  Plan,
  PlanInput,
  RemoteInventory,
  SnapshotVerdict,
  SourceInventory,
  SourcePlan,
  Upload,
} from "./lib/plan/plan.ts";
export type { RenderOptions } from "./lib/plan/preview.ts";
export { encodeKey, parseKey } from "./lib/keys.ts";
export type { BackupKey, ParsedKey } from "./lib/keys.ts";

// Domain types.
export { ZERO_UUID } from "./lib/types.ts";
export type { BackupInfo, SnapshotRef, SubvolumeInfo } from "./lib/types.ts";
