/**
 * `update`: snapshot the sources that changed, plan, preview, confirm, and
 * carry the plan out in the safe order.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateConfig } from "../config/validate.ts";
import {
  createSnapshot,
  destroySnapshot,
  getSubvolumeInfo,
  listSnapshots,
  renameSnapshot,
  send,
  syncFilesystem,
} from "../../drivers/btrfs/driver.ts";
import { encodeKey } from "../../core/keys.ts";
import { forwardArgvs, keySuffixes } from "../../drivers/pipe/stages.ts";
import { pipeThrough } from "../../drivers/pipe/pipeline.ts";
import {
  executePlan,
  type ExecuteReport,
  type ExecutorWorld,
} from "../../core/plan/executor.ts";
import { isEmptyPlan } from "../../core/plan/plan.ts";
import type { Plan, SourceInventory } from "../../core/plan/plan.ts";
import { plan as makePlan } from "../../core/plan/planner.ts";
import { renderPlan } from "../../core/plan/preview.ts";
import { snapshotName } from "../../core/snapshot_names.ts";
import { deleteBackup } from "../../drivers/transfer/manifest.ts";
import { uploadStream } from "../../drivers/transfer/upload.ts";
import type { SnapshotRef } from "../../core/types.ts";
import { memoryOutput, type Output } from "../output.ts";
import { formatSize } from "../../core/format.ts";
import { RemoteSet } from "../remotes.ts";

/** Options of {@linkcode update}. */
export interface UpdateOptions {
  /** Carry the plan out without asking. */
  force?: boolean;
  /** Print the plan and stop. */
  pretend?: boolean;
  /** Asked when neither `force` nor `pretend` is set; the plan runs only on true. */
  confirm?: (plan: Plan) => Promise<boolean>;
  /** Where lines go (default: collected in memory). */
  output?: Output;
  /** The time to plan for (default: now). */
  now?: Temporal.Instant;
  /** Colour the preview. */
  color?: boolean;
}

/** Outcome of {@linkcode update}. */
export interface UpdateResult {
  /** True when the plan was carried out without error (or there was nothing to do, or it was only previewed). */
  ok: boolean;
  /** Whether the plan was executed. */
  executed: boolean;
  /** One line for logs and monitors. */
  summary: string;
  /** The plan that was shown (and carried out when `executed`). */
  plan: Plan;
  /** What the executor did, when it ran. */
  report?: ExecuteReport;
}

/** Reads every source and remote into the planner's input. */
export async function inventory(
  config: Config,
  remotes: RemoteSet,
): Promise<SourceInventory[]> {
  const sources: SourceInventory[] = [];
  for (const src of config.sources) {
    // btrfs bumps ctransid only at commit (every 30 s by default): sync first so a write just made is seen.
    await syncFilesystem(src.path);
    const info = await getSubvolumeInfo(src.path);
    let snapshots: SnapshotRef[] = [];
    if (await _isDirectory(src.snapshots)) {
      snapshots = (await listSnapshots(info, src.snapshots)).map((s) => ({
        uuid: s.uuid,
        ctransid: s.ctransid,
        ctime: s.ctime,
        path: s.path,
      }));
    }
    const inv: SourceInventory = {
      path: info.path,
      name: basename(info.path),
      uuid: info.uuid,
      ctransid: info.ctransid,
      ctime: info.ctime,
      snapshotDir: src.snapshots,
      snapshots,
      remotes: [],
    };
    for (const up of src.upload) {
      const listing = await remotes.listing(up.remote);
      inv.remotes.push({
        id: up.remote,
        preserve: up.preserve,
        keySuffixes: keySuffixes(up.pipe),
        backups: listing.backups.filter((b) => b.sourceUuid === info.uuid),
      });
    }
    sources.push(inv);
  }
  return sources;
}

/**
 * Runs one update: snapshot, plan, preview, confirm, execute.
 *
 * @param configInput A config (validated here).
 * @param options See {@linkcode UpdateOptions}.
 * @returns The plan, what was done, and a one-line summary.
 */
export async function update(
  configInput: Config | ConfigInput,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  const config = validateConfig(configInput);
  const out = options.output ?? memoryOutput();
  const remotes = new RemoteSet(config.remotes);
  try {
    // Only the remotes some source uploads to: an unused one is never contacted.
    const used = new Set(
      config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
    );
    for (const id of used) {
      const listing = await remotes.listing(id);
      for (const w of listing.warnings) out.error(`warning: ${id}: ${w}`);
      for (const inc of listing.incomplete) {
        out.error(
          `warning: ${id}: incomplete backup ${inc.keys[0]}: ${inc.reason}`,
        );
      }
    }
    const plan = makePlan({
      timeZone: config.timezone,
      now: options.now ?? Temporal.Now.instant(),
      sources: await inventory(config, remotes),
    });
    for (const s of plan.sources) {
      for (const w of s.warnings) out.error(`warning: ${s.path}: ${w}`);
    }
    if (isEmptyPlan(plan)) {
      return { ok: true, executed: false, summary: "nothing to do", plan };
    }
    out.print(renderPlan(plan, { color: options.color }));
    if (options.pretend) {
      return {
        ok: true,
        executed: false,
        summary: "pretend: nothing done",
        plan,
      };
    }
    if (!options.force) {
      const yes = options.confirm ? await options.confirm(plan) : false;
      if (!yes) {
        return {
          ok: false,
          executed: false,
          summary: "not confirmed: nothing done",
          plan,
        };
      }
    }
    const report = await executePlan(plan, _world(config, remotes, out));
    const summary = _summary(report);
    return { ok: !report.error, executed: true, summary, plan, report };
  } finally {
    remotes.close();
  }
}

function _summary(r: ExecuteReport): string {
  const parts = [
    `${r.created.length} snapshot(s) created`,
    `${r.uploaded.length} backup(s) uploaded`,
    `${r.destroyed} snapshot(s) destroyed`,
    `${r.deleted} backup(s) deleted`,
  ];
  return r.error
    ? `failed: ${r.error.message} (${parts.join(", ")})`
    : parts.join(", ");
}

function _world(
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

async function _isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
