/**
 * The executor's world made real: btrfs for snapshots, `btrfs send` through
 * the pipe stages into the transfer layer for uploads, the remotes for
 * deletes. The plan decides; this only carries single steps out.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import type { Config, SourceUpload } from "../core/config_types.ts";
import {
  createSnapshot,
  destroySnapshot,
  renameSnapshot,
  send,
} from "../drivers/btrfs/driver.ts";
import { encodeKey } from "../core/keys.ts";
import { forwardArgvs, keySuffixes } from "../drivers/pipe/stages.ts";
import { pipeThrough } from "../drivers/pipe/pipeline.ts";
import { teeBounded } from "../drivers/pipe/tee.ts";
import type { ExecutorWorld } from "../core/plan/executor.ts";
import { snapshotName } from "../core/snapshot_names.ts";
import { deleteBackup } from "../drivers/transfer/manifest.ts";
import { type UploadResult, uploadStream } from "../drivers/transfer/upload.ts";
import { fileJournal } from "../drivers/transfer/upload_journal.ts";
import { formatSize } from "../core/format.ts";
import { formatRate } from "../core/rate.ts";
import type { Output } from "./output.ts";
import type { RemoteSet } from "./remotes.ts";
import { retainBackup } from "./object_lock.ts";
import { uploadJournalPath } from "./lock.ts";

/** One backup uploaded, as {@linkcode WorldOptions.onUploaded} reports it. */
export interface UploadRecord {
  /** The remote's id. */
  remote: string;
  /** The `.seqn0` key. */
  key: string;
  /** The snapshot's name. */
  snapshot: string;
  /** Bytes stored (after the pipe stages). */
  bytes: number;
  /** Objects stored (more than one past the provider's object size limit). */
  objects: number;
  /** SHA-256 of the whole stream, as the manifest (or the object's metadata) records it. */
  sha256: string;
  /** Whether a manifest file was written; false when the SHA-256 went into the object's metadata (one PutObject to S3). */
  manifest: boolean;
  /** From the start of `btrfs send` to the last object stored. */
  durationMs: number;
}

/** Options of {@linkcode executorWorld}. */
export interface WorldOptions {
  /** Log lines carry full paths and keys. */
  verbose?: boolean;
  /** Told after each upload. */
  onUploaded?: (upload: UploadRecord) => void;
  /**
   * Stops the run: the uploads in progress are undone and every later step
   * throws the signal's reason. A snapshot just made is still renamed to its
   * final name (a `.NEW.` name would outlive the run).
   */
  signal?: AbortSignal;
}

/**
 * What makes an upload's stream what it is besides the snapshot (which the
 * key names): its send parent and pipe stages. A killed upload is resumed
 * only by one with the same fingerprint.
 *
 * @param up The source's upload config for the remote.
 * @param parentUuid The send parent's uuid, or null for a full backup.
 * @param storageClass The storage class the objects get.
 * @returns A hex digest.
 */
export function uploadFingerprint(
  up: SourceUpload,
  parentUuid: string | null,
  storageClass: string | undefined,
): string {
  return createHash("sha256").update(JSON.stringify({
    parent: parentUuid,
    stages: forwardArgvs(up.pipe),
    storageClass: storageClass ?? null,
  })).digest("hex");
}

/**
 * The {@linkcode ExecutorWorld} of a config: its sources on btrfs, its remotes.
 *
 * @param config A validated config.
 * @param remotes The config's remotes.
 * @param out Where action lines and progress go.
 * @param options Verbosity and an upload callback.
 * @returns The world for `executePlan`.
 */
export function executorWorld(
  config: Config,
  remotes: RemoteSet,
  out: Output,
  options: WorldOptions = {},
): ExecutorWorld {
  const sourceOf = (path: string) => {
    const found = config.sources.find((s) => resolve(s.path) === resolve(path));
    if (!found) throw new Error(`internal: no configured source at ${path}`);
    return found;
  };
  const uploadConfig = (sourcePath: string, remoteId: string) =>
    sourceOf(sourcePath).upload.find((u) => u.remote === remoteId)!;
  const signal = options.signal;
  return {
    pid: Deno.pid,
    async createSnapshot(source, name) {
      signal?.throwIfAborted();
      await Deno.mkdir(source.snapshotDir, { recursive: true });
      const s = await createSnapshot(source.path, source.snapshotDir, name);
      return {
        uuid: s.uuid,
        ctransid: s.ctransid,
        ctime: s.ctime,
        path: s.path,
      };
    },
    async rename(from, to) {
      await renameSnapshot(from, basename(to));
    },
    async upload(source, targets) {
      signal?.throwIfAborted();
      const started = performance.now();
      const { snapshot, parent } = targets[0].upload;
      const sent = await send(
        snapshot.path,
        parent ? { parent: parent.path } : {},
      );
      // One send for every target; each gets its own pipe stages after the split.
      const branches = targets.length === 1
        ? [sent]
        : teeBounded(sent, targets.length);
      const label = basename(snapshot.path);
      const limitOf = (remoteId: string) => {
        const limit = remotes.bandwidth(remoteId);
        return limit === undefined ? "" : ` (limit ${formatRate(limit)})`;
      };
      const shown = targets.length === 1
        ? `${label}${limitOf(targets[0].upload.remoteId)}`
        : `${label} to ${
          targets.map((t) => t.upload.remoteId + limitOf(t.upload.remoteId))
            .join(", ")
        }`;
      const sentBytes = targets.map(() => 0);
      const outcomes = await Promise.all(
        targets.map(async ({ upload, key }, i) => {
          // Whatever fails, this target's branch is cancelled, so it never holds the others back.
          const stop = new AbortController();
          // A lone target reads the send stream itself, straight into its
          // part buffers (a failed upload cancels it); no copy on the way.
          const branch = targets.length === 1
            ? branches[i]
            : branches[i].pipeThrough(new TransformStream(), {
              signal: stop.signal,
            });
          try {
            const up = uploadConfig(source.path, upload.remoteId);
            const remote = remotes.get(upload.remoteId);
            const stream = pipeThrough(branch, forwardArgvs(up.pipe), {
              signal,
            });
            const storageClass = upload.storageClass ?? up.storageClass;
            const result = await uploadStream(remote, key, stream, {
              storageClass,
              // A run killed mid-upload left a journal: this upload resumes it.
              journal: fileJournal(
                uploadJournalPath(
                  source.snapshotDir,
                  source.name,
                  remote.id,
                  key,
                ),
              ),
              fingerprint: uploadFingerprint(
                up,
                parent?.uuid ?? null,
                storageClass,
              ),
              signal,
              onProgress: (p) => {
                sentBytes[i] = p.bytes;
                out.progress(
                  shown,
                  Math.min(...sentBytes),
                  performance.now() - started,
                );
              },
            });
            // Only a complete backup is locked: a failed one was deleted by the upload.
            if (upload.lock) {
              await retainBackup(
                remote,
                result.objects.map((o) => o.key),
                upload.lock,
              );
            }
            remotes.noteStored(upload.remoteId, result.objects);
            const durationMs = Math.round(performance.now() - started);
            out.log(
              `uploaded ${label}: ${
                formatSize(result.size)
              } to ${upload.remoteId} in ${
                (durationMs / 1000).toFixed(1)
              } s, ${result.objects.length} object(s)` +
                (options.verbose ? `, sha256 ${result.sha256}` : "") +
                _resumedText(result),
            );
            options.onUploaded?.({
              remote: upload.remoteId,
              key,
              snapshot: label,
              bytes: result.size,
              objects: result.objects.length,
              sha256: result.sha256,
              manifest: result.manifestKey !== null,
              durationMs,
            });
            return null;
          } catch (e) {
            stop.abort(e);
            return e instanceof Error ? e : new Error(String(e));
          }
        }),
      );
      out.endProgress();
      return outcomes;
    },
    async extendRetention(r) {
      signal?.throwIfAborted();
      await retainBackup(remotes.get(r.remoteId), r.backup.keys, r.to);
    },
    async destroy(snapshot) {
      signal?.throwIfAborted();
      await destroySnapshot(snapshot.path, { uuid: snapshot.uuid });
    },
    async deleteBackup(remoteId, backup) {
      signal?.throwIfAborted();
      await deleteBackup(remotes.get(remoteId), backup.keys);
      remotes.noteDeleted(remoteId, backup.keys);
    },
    snapshotPath(source, snapshot) {
      return join(
        source.snapshotDir,
        snapshotName(
          source.name,
          snapshot.ctime,
          snapshot.ctransid,
          config.timezone,
        ),
      );
    },
    rekey(upload, snapshot, source) {
      // The pending key's suffixes are the config's: the planner made them from it.
      const suffixes = keySuffixes(
        uploadConfig(source.path, upload.remoteId).pipe,
      );
      return encodeKey({
        name: source.name,
        ctime: snapshot.ctime,
        ctransid: snapshot.ctransid,
        uuid: snapshot.uuid,
        sendParentUuid: upload.parent?.uuid ?? null,
        sourceUuid: source.uuid,
        seqn: 0,
        suffixes,
      }, config.timezone);
    },
    log: (line, detail) =>
      out.log(options.verbose && detail ? `${line}: ${detail}` : line),
  };
}

/** What a resumed upload reused, for its log line. */
function _resumedText(r: UploadResult): string {
  if (!r.resumed) return "";
  if (r.reused.parts === 0) {
    return "; resumed an interrupted upload, but no part matched (the stream came out different, as age and gpg encrypt differently each time), so every part was sent again";
  }
  return `; resumed an interrupted upload: ${r.reused.parts} part(s), ${
    formatSize(r.reused.bytes)
  }, were already stored and not sent again`;
}
