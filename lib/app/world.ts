/**
 * The executor's world made real: btrfs for snapshots, `btrfs send` through
 * the pipe stages into the transfer layer for uploads, the remotes for
 * deletes. The plan decides; this only carries single steps out.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import type { Config } from "../core/config_types.ts";
import {
  createSnapshot,
  destroySnapshot,
  renameSnapshot,
  send,
} from "../drivers/btrfs/driver.ts";
import { encodeKey } from "../core/keys.ts";
import { forwardArgvs, keySuffixes } from "../drivers/pipe/stages.ts";
import { pipeThrough } from "../drivers/pipe/pipeline.ts";
import type { ExecutorWorld } from "../core/plan/executor.ts";
import { snapshotName } from "../core/snapshot_names.ts";
import { deleteBackup } from "../drivers/transfer/manifest.ts";
import { uploadStream } from "../drivers/transfer/upload.ts";
import { formatSize } from "../core/format.ts";
import type { Output } from "./output.ts";
import type { RemoteSet } from "./remotes.ts";

/**
 * The {@linkcode ExecutorWorld} of a config: its sources on btrfs, its remotes.
 *
 * @param config A validated config.
 * @param remotes The config's remotes.
 * @param out Where action lines and progress go.
 * @returns The world for `executePlan`.
 */
export function executorWorld(
  config: Config,
  remotes: RemoteSet,
  out: Output,
): ExecutorWorld {
  const sourceOf = (path: string) => {
    const found = config.sources.find((s) => resolve(s.path) === resolve(path));
    if (!found) throw new Error(`internal: no configured source at ${path}`);
    return found;
  };
  const uploadConfig = (sourcePath: string, remoteId: string) =>
    sourceOf(sourcePath).upload.find((u) => u.remote === remoteId)!;
  return {
    pid: Deno.pid,
    async createSnapshot(source, name) {
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
    async upload(source, upload, key) {
      const up = uploadConfig(source.path, upload.remoteId);
      const remote = remotes.get(upload.remoteId);
      const stream = pipeThrough(
        await send(
          upload.snapshot.path,
          upload.parent ? { parent: upload.parent.path } : {},
        ),
        forwardArgvs(up.pipe),
      );
      const label = basename(upload.snapshot.path);
      const result = await uploadStream(remote, key, stream, {
        storageClass: up.storageClass,
        onProgress: (p) => out.progress(label, p.bytes, p.elapsedMs),
      });
      out.endProgress();
      out.log(
        `uploaded ${
          formatSize(result.size)
        } in ${result.objects.length} object(s), sha256 ${result.sha256}`,
      );
    },
    async destroy(snapshot) {
      await destroySnapshot(snapshot.path, { uuid: snapshot.uuid });
    },
    async deleteBackup(remoteId, backup) {
      await deleteBackup(remotes.get(remoteId), backup.keys);
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
    log: (line) => out.log(line),
  };
}
