/**
 * The commands that undo a backup's pipe stages on the way back (decrypt,
 * decompress), from its key's suffixes and the config's stages for its
 * source, or from `--pipe-through`; age identities from `--identity` first.
 *
 * @module
 */

import { basename } from "node:path";
import type { Config, PipeStage } from "../core/config_types.ts";
import type { BackupInfo } from "../core/types.ts";
import { inverseFromSuffixes } from "../drivers/pipe/stages.ts";

/** How to undo the pipe, beyond what the config says. */
export interface UndoOptions {
  /** Commands that undo the pipe, instead of the key suffixes (btrfs2s3's pipe_through). */
  pipeThrough?: string[][];
  /** age identity files, instead of the config's `identityFile`. */
  identities?: string[];
}

/**
 * The configured stages of the source a backup came from: the source at
 * `path` when given, else the one with the backup's name uploading to
 * `remoteId` (none without a config).
 */
export function configuredStages(
  config: Config,
  remoteId: string,
  name: string,
  path: string | null = null,
): PipeStage[] {
  const src = config.sources.find((s) => s.path === path) ??
    config.sources.find((s) =>
      basename(s.path) === name && s.upload.some((u) => u.remote === remoteId)
    );
  return src?.upload.find((u) => u.remote === remoteId)?.pipe ?? [];
}

/**
 * The commands to run a backup's bytes through, in order.
 *
 * @throws {Error} When a suffix cannot be undone, or age has no identity (the message names the flag).
 */
export function undoCommands(
  backup: BackupInfo,
  stages: readonly PipeStage[],
  options: UndoOptions,
): string[][] {
  return options.pipeThrough ?? inverseFromSuffixes(backup.suffixes, {
    stages,
    ageIdentityFiles: options.identities?.length
      ? options.identities
      : undefined,
  });
}
