/**
 * `restore`: rebuild snapshots from a remote with `btrfs receive`.
 *
 * Steps: check the destination (before anything is listed); list the remote;
 * choose the source groups and backups (`core/restore_selection.ts`: the
 * live source's uuid, else the one same-named source; a uuid, a prefix or
 * `latest`); receive each chain root first, skipping what the destination
 * holds, each stream checked against its key and its manifest's SHA-256.
 * A chain that cannot be restored (an ancestor missing from the remote) is
 * reported and the rest restored; a backup that fails to receive stops only
 * the backups that depend on it, and the restore then throws.
 *
 * @module
 */

import { basename, join } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { formatSize } from "../../core/format.ts";
import {
  describeBrokenChain,
  parseRestoreTarget,
  type SelectedSource,
  SelectionError,
  selectRestore,
  type SourceSpec,
} from "../../core/restore_selection.ts";
import type { BackupInfo, SubvolumeInfo } from "../../core/types.ts";
import {
  checkReceiveDir,
  getSubvolumeInfo,
  receive,
} from "../../drivers/btrfs/driver.ts";
import { pipeThrough } from "../../drivers/pipe/pipeline.ts";
import type { Remote } from "../../drivers/remote/remote.ts";
import { downloadStream } from "../../drivers/transfer/download.ts";
import { ensureRetrievable, type RetrievalOptions } from "../retrieval.ts";
import type { Output } from "../output.ts";
import { commandContext, runLockOptions } from "./_context.ts";
import { describeRetry, RemoteSet } from "../remotes.ts";
import { formatRate } from "../../core/rate.ts";
import { configuredStages, undoCommands } from "../undo_pipe.ts";
import type { RetryInfo } from "../../drivers/remote/retry.ts";
import { snapshotName } from "../../core/snapshot_names.ts";
import { lockDestination } from "../run_lock.ts";
import { InterruptedError } from "../interrupt.ts";

/** Options of {@linkcode restore}. */
export interface RestoreOptions {
  /** Directory on a btrfs filesystem to receive into. */
  dest: string;
  /** Remote id to restore from. */
  remote: string;
  /**
   * A snapshot uuid (it and its chain), a source uuid (every backup of that
   * source), a unique prefix of 8+ hex digits of either, or `latest`; default
   * every backup of the selected sources.
   */
  uuid?: string;
  /** Only this source: its directory name, its configured path, or its source uuid (prefix). */
  source?: string;
  /** Skip the SHA-256 check (default: check). */
  verify?: boolean;
  /** Commands that undo the pipe, overriding what the key suffixes say (for btrfs2s3's pipe_through). */
  pipeThrough?: string[][];
  /** age identity files to decrypt with, instead of the config's `identityFile`. */
  identities?: string[];
  /** Where lines go. */
  output?: Output;
  /** Log lines carry keys; a line per retry of a request. */
  verbose?: boolean;
  /** Bandwidth limit of the remote's downloads, bytes per second, over its `bandwidth` (`--bwlimit`). */
  bandwidth?: number;
  /** Archived backups: tier, days, and whether to wait for them (default: ask, then exit 75). */
  retrieval?: RetrievalOptions;
  /** Seconds to wait while another restore holds the destination's lock (0: fail at once; Infinity: no limit). */
  waitLock?: number;
  /** Stops the restore: the backup being received is abandoned, nothing more is started. */
  signal?: AbortSignal;
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
  /** Backups received without a checksum to check (no manifest: written by btrfs2s3). */
  unverified: number;
  /** The source groups restored from, each with how its uuid was chosen. */
  sources: {
    name: string;
    sourceUuid: string;
    path: string | null;
    why: string;
  }[];
  /** One line per chain that cannot be restored (an ancestor missing or incomplete). */
  broken: string[];
  /** Configured sources with no backups in the remote. */
  unmatched: string[];
  /** Backups that failed to receive, and the ones left out because they depend on one. */
  failed: { key: string; error: string }[];
  /** Whether everything selected was restored (nothing broken, unmatched or failed). */
  ok: boolean;
  /** The backups received, in order. */
  backups: ReceivedBackup[];
  /** Bytes downloaded in all. */
  bytes: number;
  /** From the start to the end of the restore, in ms. */
  durationMs: number;
}

/** Backups failed to receive; the others were restored. `result` says what was. */
export class RestoreError extends Error {
  /**
   * Makes the error.
   *
   * @param message One line: how many failed, and the first failure.
   * @param result The restore's outcome.
   * @param options `cause`: the first failure.
   */
  constructor(
    message: string,
    /** What was received, skipped, broken and failed. */
    readonly result: RestoreResult,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "RestoreError";
  }
}

/**
 * Restores backups into `options.dest`.
 *
 * @param configInput The config (for its remotes, sources and pipe stages). A
 *   config without sources restores every source in the remote (names must
 *   then be unique, or `source`/`uuid` must choose).
 * @param options See {@linkcode RestoreOptions}.
 * @returns What was received, skipped and could not be restored.
 * @throws {BtrfsError} When the destination is missing, not on btrfs or not writable (nothing received).
 * @throws {SelectionError} On a bad or ambiguous uuid, same-named sources, or nothing to restore.
 * @throws {RestoreError} When backups failed to receive (after the others were restored).
 */
export async function restore(
  configInput: Config | ConfigInput,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { config, out } = commandContext(configInput, options);
  const started = performance.now();
  // Before anything is listed or downloaded: a bad destination or uuid is the user's to fix.
  const dest = await checkReceiveDir(options.dest);
  const target = parseRestoreTarget(options.uuid);
  const onRetry = options.verbose
    ? (id: string, info: RetryInfo) => out.error(describeRetry(id, info))
    : undefined;
  const signal = options.signal;
  // One restore per destination at a time.
  await using _lock = await lockDestination(
    dest,
    runLockOptions("restore", options, out),
  );
  const remotes = new RemoteSet(config.remotes, {
    onRetry,
    bandwidth: options.bandwidth,
  });
  let received = 0;
  try {
    const remote = remotes.get(options.remote);
    const listing = await remotes.listing(options.remote);
    const selection = selectRestore({
      remote: options.remote,
      backups: listing.backups,
      incomplete: listing.incomplete,
      sources: await _sourceSpecs(config, options.remote),
      target,
      source: options.source,
      timeZone: config.timezone,
    });
    const result: RestoreResult = {
      received: [],
      skipped: 0,
      unverified: 0,
      sources: selection.sources.map(({ name, sourceUuid, path, why }) => ({
        name,
        sourceUuid,
        path,
        why,
      })),
      broken: selection.sources.flatMap((s) =>
        s.broken.map((c) => describeBrokenChain(s, c, config.timezone))
      ),
      unmatched: selection.unmatched.map((s) =>
        `no backups of source ${s.path} in remote ${options.remote}`
      ),
      failed: [],
      ok: true,
      backups: [],
      bytes: 0,
      durationMs: 0,
    };
    const name = (b: BackupInfo) =>
      snapshotName(b.name, b.ctime, b.ctransid, config.timezone);
    const key = (b: BackupInfo) =>
      options.verbose ? ` (key ${options.remote}:${b.keys[0]})` : "";
    const inverses = _inverses(config, selection.sources, options);
    const present = await _receivedUuids(dest);
    // Archived objects: every retrieval asked for at once, or try later (exit 75).
    await ensureRetrievable(
      remote,
      selection.sources.flatMap((s) => s.backups)
        .filter((b) => !present.has(b.uuid)),
      options.retrieval ?? {},
      out,
    );
    let firstError: unknown;
    for (const source of selection.sources) {
      out.log(
        `source ${source.name}: ${source.sourceUuid} (${source.why})`,
      );
      const failedUuids = new Set<string>();
      for (const b of source.backups) {
        signal?.throwIfAborted();
        if (present.has(b.uuid)) {
          result.skipped++;
          out.log(`already received: ${name(b)}${key(b)}`);
          continue;
        }
        if (b.sendParentUuid !== null && failedUuids.has(b.sendParentUuid)) {
          failedUuids.add(b.uuid);
          const error =
            `not received: it depends on snapshot ${b.sendParentUuid}, which failed`;
          result.failed.push({ key: b.keys[0], error });
          out.error(`${name(b)}: ${error}${key(b)}`);
          continue;
        }
        try {
          await _receiveOne(b, {
            remote,
            remoteId: options.remote,
            dest,
            name: name(b),
            key: key(b),
            onRetry,
            limit: remotes.bandwidth(options.remote),
            result,
            inverse: inverses.get(b)!,
            parent: source.backups.find((p) => p.uuid === b.sendParentUuid),
            options,
            out,
            onUnverified: () => result.unverified++,
          });
          present.add(b.uuid);
          received++;
        } catch (e) {
          out.endProgress();
          signal?.throwIfAborted();
          firstError ??= e;
          failedUuids.add(b.uuid);
          const error = e instanceof Error ? e.message : String(e);
          result.failed.push({ key: b.keys[0], error });
          out.error(`failed: ${name(b)}: ${error}${key(b)}`);
        }
      }
    }
    for (const line of result.broken) out.error(`broken chain: ${line}`);
    for (const line of result.unmatched) out.error(line);
    result.ok = result.broken.length === 0 && result.unmatched.length === 0 &&
      result.failed.length === 0;
    result.durationMs = Math.round(performance.now() - started);
    if (firstError !== undefined) {
      const first = firstError instanceof Error
        ? firstError.message
        : String(firstError);
      throw new RestoreError(
        `${result.failed.length} backup(s) not restored (${result.received.length} received): ${
          result.failed[0].key
        }: ${first}`,
        result,
        { cause: firstError },
      );
    }
    return result;
  } catch (e) {
    const reason = signal?.reason;
    if (signal?.aborted && reason instanceof InterruptedError) {
      throw new InterruptedError(
        reason.signal,
        `${reason.message}: the backup being received was abandoned; kept ${received} snapshot(s) received`,
      );
    }
    throw e;
  } finally {
    remotes.close();
  }
}

/** The sources that upload to `remoteId`, with their uuids now; null for a config without sources. */
async function _sourceSpecs(
  config: Config,
  remoteId: string,
): Promise<SourceSpec[] | null> {
  if (config.sources.length === 0) return null;
  const specs: SourceSpec[] = [];
  for (const src of config.sources) {
    if (!src.upload.some((u) => u.remote === remoteId)) continue;
    let liveUuid: string | null = null;
    try {
      liveUuid = (await getSubvolumeInfo(src.path)).uuid;
    } catch {
      // Restoring onto a new machine: the source is gone.
    }
    specs.push({ path: src.path, name: basename(src.path), liveUuid });
  }
  return specs;
}

/** What the destination already holds, by the uuid each subvolume was received from. */
async function _receivedUuids(dest: string): Promise<Set<string>> {
  const present = new Set<string>();
  for await (const e of Deno.readDir(dest)) {
    if (!e.isDirectory) continue;
    try {
      const info = await getSubvolumeInfo(join(dest, e.name));
      if (info.receivedUuid) present.add(info.receivedUuid);
    } catch { /* not a subvolume */ }
  }
  return present;
}

/**
 * The commands that undo each backup's pipe stages, found before anything is
 * received: a backup that cannot be undone (age without an identity, an
 * unknown suffix) is bad input.
 */
function _inverses(
  config: Config,
  sources: readonly SelectedSource[],
  options: RestoreOptions,
): Map<BackupInfo, string[][]> {
  const out = new Map<BackupInfo, string[][]>();
  for (const source of sources) {
    const stages = configuredStages(
      config,
      options.remote,
      source.name,
      source.path,
    );
    for (const b of source.backups) {
      try {
        out.set(b, undoCommands(b, stages, options));
      } catch (e) {
        throw new SelectionError(
          "bad-input",
          `cannot restore ${b.keys[0]}: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
  }
  return out;
}

/** Downloads one backup, undoes its pipe stages and receives it, checked against its key. */
async function _receiveOne(
  b: BackupInfo,
  ctx: {
    remote: Remote;
    remoteId: string;
    dest: string;
    name: string;
    key: string;
    onRetry?: (id: string, info: RetryInfo) => void;
    /** The remote's bandwidth limit, shown in the progress line. */
    limit?: number;
    result: RestoreResult;
    inverse: string[][];
    parent: BackupInfo | undefined;
    options: RestoreOptions;
    out: Output;
    onUnverified: () => void;
  },
): Promise<SubvolumeInfo> {
  const { out, options, onRetry } = ctx;
  const started = performance.now();
  out.log(
    `receiving ${ctx.name} from ${ctx.remoteId}${
      b.sendParentUuid ? "" : " (full)"
    }${ctx.key}`,
  );
  // The size is known once the download opened; progress before that has no total.
  const known: { size?: number } = {};
  const dl = await downloadStream(ctx.remote, b.keys, {
    verify: options.verify ?? true,
    signal: options.signal,
    retry: onRetry
      ? { onRetry: (info) => onRetry(ctx.remoteId, info) }
      : undefined,
    onUnverified: (why) => {
      ctx.onUnverified();
      out.error(`warning: not checksum-verified: ${b.keys[0]}: ${why}`);
    },
    onProgress: (p) =>
      out.progress(
        ctx.limit === undefined
          ? basename(b.keys[0])
          : `${basename(b.keys[0])} (limit ${formatRate(ctx.limit)})`,
        p.bytes,
        p.elapsedMs,
        known.size,
      ),
  });
  known.size = dl.size;
  const stream = pipeThrough(dl.stream, ctx.inverse, {
    signal: options.signal,
  });
  const info = await receive(stream, ctx.dest, {
    label: `backup ${b.keys[0]}`,
    expect: {
      uuid: b.uuid,
      ctransid: b.ctransid,
      parentUuid: b.sendParentUuid,
      parentCtransid: ctx.parent?.ctransid,
    },
  });
  out.endProgress();
  const durationMs = Math.round(performance.now() - started);
  ctx.result.received.push(info);
  ctx.result.backups.push({
    snapshot: ctx.name,
    key: b.keys[0],
    path: info.path,
    bytes: dl.size,
    verified: dl.verified,
    durationMs,
  });
  ctx.result.bytes += dl.size;
  out.log(
    `received ${ctx.name} (${formatSize(dl.size)} in ${
      (durationMs / 1000).toFixed(1)
    } s, ${dl.verified ? "sha256 verified" : "not checksum-verified"})${
      options.verbose ? ` at ${info.path}` : ""
    }`,
  );
  return info;
}
