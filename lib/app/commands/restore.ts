/**
 * `restore`: rebuild snapshots from a remote with `btrfs receive`, root of
 * each chain first, skipping what the destination already holds, checking
 * every backup against its recorded SHA-256.
 *
 * @module
 */

import { basename, join } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateConfig } from "../config/validate.ts";
import {
  checkReceiveDir,
  getSubvolumeInfo,
  receive,
} from "../../drivers/btrfs/driver.ts";
import { inverseFromSuffixes } from "../../drivers/pipe/stages.ts";
import { pipeThrough } from "../../drivers/pipe/pipeline.ts";
import { downloadStream } from "../../drivers/transfer/download.ts";
import type { RetryInfo } from "../../drivers/remote/retry.ts";
import type { BackupInfo, SubvolumeInfo } from "../../core/types.ts";
import type { PipeStage } from "../../core/config_types.ts";
import { memoryOutput, type Output } from "../output.ts";
import { formatSize } from "../../core/format.ts";
import { describeRetry, RemoteSet } from "../remotes.ts";
import { snapshotName } from "../../core/snapshot_names.ts";

/** Options of {@linkcode restore}. */
export interface RestoreOptions {
  /** Directory on a btrfs filesystem to receive into. */
  dest: string;
  /** Remote id to restore from. */
  remote: string;
  /** Restore only this snapshot uuid (and its chain); default every backup of every source. */
  uuid?: string;
  /** Skip the SHA-256 check (default: check). */
  verify?: boolean;
  /** Commands that undo the pipe, overriding what the key suffixes say (for btrfs2s3's pipe_through). */
  pipeThrough?: string[][];
  /** Where lines go. */
  output?: Output;
  /** Log lines carry keys; a line per retry of a request. */
  verbose?: boolean;
}

/** One backup received, as {@linkcode RestoreResult.backups} lists it. */
export interface ReceivedBackup {
  /** The snapshot's name. */
  snapshot: string;
  /** The backup's `.seqn0` key. */
  key: string;
  /** Where it was received. */
  path: string;
  /** Bytes downloaded. */
  bytes: number;
  /** Whether its SHA-256 was checked. */
  verified: boolean;
  /** From the first byte requested to the subvolume received, in ms. */
  durationMs: number;
}

/** Outcome of {@linkcode restore}. */
export interface RestoreResult {
  /** Subvolumes received, in order. */
  received: SubvolumeInfo[];
  /** Backups skipped because the destination already had them. */
  skipped: number;
  /** Backups received without a checksum to check (written by btrfs2s3). */
  unverified: number;
  /** Each backup received, in order. */
  backups: ReceivedBackup[];
  /** Bytes downloaded in all. */
  bytes: number;
  /** From the start to the end of the restore, in ms. */
  durationMs: number;
}

/** The backups of the config's sources in a listing: by `.prnt` when the source exists, else by name. */
export async function backupsOfSources(
  config: Config,
  remoteId: string,
  backups: BackupInfo[],
): Promise<Map<string, BackupInfo[]>> {
  const bySource = new Map<string, BackupInfo[]>();
  for (const src of config.sources) {
    if (!src.upload.some((u) => u.remote === remoteId)) continue;
    let uuid: string | null = null;
    try {
      uuid = (await getSubvolumeInfo(src.path)).uuid;
    } catch {
      // Restoring onto a new machine: the source is gone, so match by its name.
    }
    const name = basename(src.path);
    bySource.set(
      src.path,
      backups.filter((b) => uuid ? b.sourceUuid === uuid : b.name === name),
    );
  }
  return bySource;
}

/** The chain of `target`: full backup first, `target` last. Throws when a link is missing. */
export function chainOf(
  target: BackupInfo,
  backups: readonly BackupInfo[],
): BackupInfo[] {
  const chain = [target];
  const seen = new Set([target.uuid]);
  let cur = target;
  while (cur.sendParentUuid) {
    const parent = backups.find((b) =>
      b.uuid === cur.sendParentUuid && b.sourceUuid === cur.sourceUuid
    );
    if (!parent) {
      throw new Error(
        `cannot restore ${
          target.keys[0]
        }: its chain is broken, the backup of parent snapshot ${cur.sendParentUuid} is missing`,
      );
    }
    if (seen.has(parent.uuid)) {
      throw new Error(
        `cannot restore ${target.keys[0]}: its chain has a cycle`,
      );
    }
    seen.add(parent.uuid);
    chain.unshift(parent);
    cur = parent;
  }
  return chain;
}

/**
 * Restores backups into `options.dest`.
 *
 * @param configInput The config (for its remotes and pipe stages).
 * @param options See {@linkcode RestoreOptions}.
 * @returns What was received and skipped.
 */
export async function restore(
  configInput: Config | ConfigInput,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const config = validateConfig(configInput);
  const out = options.output ?? memoryOutput();
  const started = performance.now();
  const onRetry = options.verbose
    ? (id: string, info: RetryInfo) => out.error(describeRetry(id, info))
    : undefined;
  const remotes = new RemoteSet(config.remotes, { onRetry });
  const result: RestoreResult = {
    received: [],
    skipped: 0,
    unverified: 0,
    backups: [],
    bytes: 0,
    durationMs: 0,
  };
  // Before anything is listed or downloaded: a bad destination is the user's to fix.
  await checkReceiveDir(options.dest);
  try {
    const remote = remotes.get(options.remote);
    const listing = await remotes.listing(options.remote);
    const bySource = await backupsOfSources(
      config,
      options.remote,
      listing.backups,
    );
    // What the destination already holds, by the uuid it was received from.
    const present = new Set<string>();
    for await (const e of Deno.readDir(options.dest)) {
      if (!e.isDirectory) continue;
      try {
        const info = await getSubvolumeInfo(join(options.dest, e.name));
        if (info.receivedUuid) present.add(info.receivedUuid);
      } catch { /* not a subvolume */ }
    }
    const todo: BackupInfo[] = [];
    const stagesOf = new Map<BackupInfo, PipeStage[]>();
    for (const [path, backups] of bySource) {
      const stages = config.sources.find((s) => s.path === path)!.upload
        .find((u) => u.remote === options.remote)!.pipe;
      const targets = options.uuid
        ? backups.filter((b) => b.uuid === options.uuid)
        : backups;
      for (const t of targets) {
        for (const b of chainOf(t, backups)) {
          if (!stagesOf.has(b)) todo.push(b);
          stagesOf.set(b, stages);
        }
      }
    }
    if (options.uuid && todo.length === 0) {
      throw new Error(
        `no backup of snapshot ${options.uuid} in remote ${options.remote}; see list-backups for the uuids there`,
      );
    }
    // Parents have smaller ctransids than their children, so this receives roots first.
    todo.sort((a, b) =>
      a.ctransid - b.ctransid ||
      (a.sendParentUuid ? 1 : 0) - (b.sendParentUuid ? 1 : 0)
    );
    const name = (b: BackupInfo) =>
      snapshotName(b.name, b.ctime, b.ctransid, config.timezone);
    const key = (b: BackupInfo) =>
      options.verbose ? ` (key ${options.remote}:${b.keys[0]})` : "";
    for (const b of todo) {
      if (present.has(b.uuid)) {
        result.skipped++;
        out.log(`already received: ${name(b)}${key(b)}`);
        continue;
      }
      const backupStarted = performance.now();
      const stages = stagesOf.get(b) ?? [];
      const inverse = options.pipeThrough ??
        inverseFromSuffixes(b.suffixes, { stages });
      out.log(
        `receiving ${name(b)} from ${options.remote}${
          b.sendParentUuid ? "" : " (full)"
        }${key(b)}`,
      );
      // The size is known once the download opened; progress before that has no total.
      const known: { size?: number } = {};
      const dl = await downloadStream(remote, b.keys, {
        verify: options.verify ?? true,
        retry: onRetry
          ? { onRetry: (info) => onRetry(options.remote, info) }
          : undefined,
        onUnverified: (why) => {
          result.unverified++;
          out.error(`warning: not verified: ${b.keys[0]}: ${why}`);
        },
        onProgress: (p) =>
          out.progress(basename(b.keys[0]), p.bytes, p.elapsedMs, known.size),
      });
      known.size = dl.size;
      const parent = b.sendParentUuid === null
        ? undefined
        : todo.find((p) => p.uuid === b.sendParentUuid);
      const info = await receive(
        pipeThrough(dl.stream, inverse),
        options.dest,
        {
          label: `backup ${b.keys[0]}`,
          expect: {
            uuid: b.uuid,
            ctransid: b.ctransid,
            parentUuid: b.sendParentUuid,
            parentCtransid: parent?.ctransid,
          },
        },
      );
      out.endProgress();
      present.add(b.uuid);
      result.received.push(info);
      const durationMs = Math.round(performance.now() - backupStarted);
      result.backups.push({
        snapshot: name(b),
        key: b.keys[0],
        path: info.path,
        bytes: dl.size,
        verified: dl.verified,
        durationMs,
      });
      result.bytes += dl.size;
      out.log(
        `received ${name(b)} (${formatSize(dl.size)} in ${
          (durationMs / 1000).toFixed(1)
        } s${dl.verified ? ", sha256 verified" : ""})${
          options.verbose ? ` at ${info.path}` : ""
        }`,
      );
    }
    result.durationMs = Math.round(performance.now() - started);
    return result;
  } finally {
    remotes.close();
  }
}
