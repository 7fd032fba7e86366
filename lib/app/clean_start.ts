/**
 * Clean start: under the source locks, before planning, what earlier runs
 * left behind because they were killed.
 *
 * - `<name>.NEW.<pid>` snapshots of processes that are gone: a copy of
 *   another snapshot (same ctransid, and no backup names it) is destroyed;
 *   any other is adopted (the planner renames it like every snapshot).
 * - Open multipart uploads (S3) and partial files (local directory) under
 *   the source's backup keys: resumed when the plan uploads that backup
 *   again and its journal records the upload, else aborted.
 * - Journals of uploads that will not be resumed are removed.
 *
 * Each is shown in the preview; nothing is done under `--pretend`.
 *
 * @module
 */

import { basename } from "node:path";
import type { Config } from "../core/config_types.ts";
import { formatSize } from "../core/format.ts";
import { parseKey } from "../core/keys.ts";
import type { Plan, SourceInventory } from "../core/plan/plan.ts";
import type { SnapshotRef } from "../core/types.ts";
import { destroySnapshot } from "../drivers/btrfs/driver.ts";
import { processAlive } from "../drivers/pipe/process_group.ts";
import type { OpenUpload } from "../drivers/remote/remote.ts";
import { readJournal } from "../drivers/transfer/upload_journal.ts";
import { uploadJournalPath } from "./lock.ts";
import type { RemoteSet } from "./remotes.ts";

/** A `.NEW.` snapshot a killed run left. */
export interface StaleSnapshot {
  /** The source's path. */
  source: string;
  /** The snapshot. */
  snapshot: SnapshotRef;
  /** The process that was making it. */
  pid: number;
  /** `destroy` when it is a copy of `copyOf`; `adopt` otherwise. */
  action: "adopt" | "destroy";
  /** The snapshot it duplicates (same ctransid), when destroyed. */
  copyOf?: string;
}

/** An upload a killed run left open. */
export interface StaleUpload {
  /** The source's path. */
  source: string;
  /** The remote's id. */
  remote: string;
  /** Its local or S3 kind (partial file or multipart upload). */
  remoteKind: "s3" | "local";
  /** The open upload (its key is an object key of the source's backups). */
  upload: OpenUpload & { key: string };
  /** The backup's `.seqn0` key. */
  backupKey: string;
  /** Its journal, beside the source's lock. */
  journal: string;
  /** Whether the journal records this very upload (so it can be resumed). */
  journalled: boolean;
  /** What the store holds of it, when journalled. */
  stored?: { parts: number; bytes: number };
  /** Decided by {@linkcode decideUploads}: resume when the plan uploads the backup again. */
  action: "resume" | "abort";
}

/** What a clean start found. */
export interface CleanStart {
  /** Stale `.NEW.` snapshots. */
  snapshots: StaleSnapshot[];
  /** Open uploads under the sources' keys. */
  uploads: StaleUpload[];
  /** Lines to warn with (things left alone). */
  warnings: string[];
}

async function _hasUploadJournals(
  snapshotDir: string,
  sourceName: string,
): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(snapshotDir)) {
      if (
        e.isFile && e.name.startsWith(`.snap2s3-${sourceName}.`) &&
        e.name.endsWith(".upload")
      ) return true;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return false;
}

/**
 * Finds what killed runs left, for every source. The inventory is not
 * changed; plan with {@linkcode withoutDestroyed}.
 *
 * @param config A validated config.
 * @param sources The inventory, read under the sources' locks.
 * @param remotes The config's remotes.
 * @returns What was found, uploads all marked `abort` until {@linkcode decideUploads}.
 */
export async function findStale(
  config: Config,
  sources: readonly SourceInventory[],
  remotes: RemoteSet,
): Promise<CleanStart> {
  const found: CleanStart = { snapshots: [], uploads: [], warnings: [] };
  // The inventory has one source per configured source, in config order.
  for (const [i, src] of sources.entries()) {
    _staleSnapshots(src, found);
    // Every multipart upload of ours starts its journal before the store hears
    // of it: with no journal left, no S3 upload of this source was cut short,
    // and listing open uploads (a billed request) is skipped. Local partial
    // files cost nothing to look for.
    const cutShort = await _hasUploadJournals(src.snapshotDir, src.name);
    for (const up of config.sources[i]?.upload ?? []) {
      const remote = remotes.get(up.remote);
      if (remote.kind !== "local" && !cutShort) continue;
      for (const u of await remote.listOpenUploads(`${src.name}.`)) {
        if (u.key === null) continue;
        const parsed = parseKey(u.key);
        if (!parsed.ok || parsed.key.sourceUuid !== src.uuid) continue;
        const backupKey = u.key.replace(/\.seqn\d+/, ".seqn0");
        const journal = uploadJournalPath(
          src.snapshotDir,
          src.name,
          up.remote,
          backupKey,
        );
        const record = await readJournal(journal);
        const journalled = record?.header.key === backupKey &&
          record.objects.get(u.key) === u.id;
        let stored: StaleUpload["stored"];
        if (journalled) {
          const resumed = await remote.resumeUpload(u.key, u.id);
          stored = {
            parts: resumed?.stored.length ?? 0,
            bytes: resumed?.stored.reduce((n, p) => n + p.size, 0) ?? 0,
          };
        }
        found.uploads.push({
          source: src.path,
          remote: up.remote,
          remoteKind: remote.kind,
          upload: { ...u, key: u.key },
          backupKey,
          journal,
          journalled,
          stored,
          action: "abort",
        });
      }
    }
  }
  return found;
}

/** The `.NEW.<pid>` snapshots of `src` whose process is gone. */
function _staleSnapshots(src: SourceInventory, found: CleanStart): void {
  const pattern = new RegExp(`^${_escape(src.name)}\\.NEW\\.(\\d+)$`);
  const backedUp = new Set(
    src.remotes.flatMap((r) =>
      r.backups.flatMap((b) => [b.uuid, b.sendParentUuid ?? ""])
    ),
  );
  for (const s of src.snapshots) {
    const m = pattern.exec(basename(s.path));
    if (!m) continue;
    const pid = Number(m[1]);
    // Before this run made its own, a .NEW. with our pid is an old one.
    if (pid !== Deno.pid && processAlive(pid)) {
      found.warnings.push(
        `${s.path}: process ${pid} may still be making it (btrfs2s3?); left alone`,
      );
      continue;
    }
    const copy = src.snapshots.find((o) =>
      o !== s && o.ctransid === s.ctransid && !pattern.test(basename(o.path))
    );
    const destroy = copy !== undefined && !backedUp.has(s.uuid);
    found.snapshots.push({
      source: src.path,
      snapshot: s,
      pid,
      action: destroy ? "destroy" : "adopt",
      copyOf: destroy ? copy.path : undefined,
    });
  }
}

/**
 * The inventory the planner sees once the stale copies are destroyed.
 *
 * @param sources The inventory.
 * @param clean What {@linkcode findStale} found.
 * @returns The inventory without the snapshots to destroy.
 */
export function withoutDestroyed(
  sources: readonly SourceInventory[],
  clean: CleanStart,
): SourceInventory[] {
  const gone = new Set(
    clean.snapshots.filter((s) => s.action === "destroy").map((s) =>
      s.snapshot.uuid
    ),
  );
  return sources.map((src) => ({
    ...src,
    snapshots: src.snapshots.filter((s) => !gone.has(s.uuid)),
  }));
}

/**
 * Marks each journalled open upload whose backup the plan uploads again
 * (same remote, same key) `resume`; the rest stay `abort`.
 *
 * @param clean What {@linkcode findStale} found (changed in place).
 * @param plan The plan made from {@linkcode withoutDestroyed}'s inventory.
 */
export function decideUploads(clean: CleanStart, plan: Plan): void {
  const planned = new Set(
    plan.sources.flatMap((s) =>
      s.uploads.map((u) => `${s.path}\0${u.remoteId}\0${u.key}`)
    ),
  );
  for (const u of clean.uploads) {
    const again = planned.has(`${u.source}\0${u.remote}\0${u.backupKey}`);
    u.action = again && u.journalled ? "resume" : "abort";
  }
}

/** Whether the clean start has anything to do (resumes happen in the plan's uploads). */
export function cleanStartActs(clean: CleanStart): boolean {
  return clean.snapshots.some((s) => s.action === "destroy") ||
    clean.uploads.some((u) => u.action === "abort");
}

/**
 * The preview's lines, one per finding.
 *
 * @param clean What was found and decided.
 * @returns E.g. `abort stale upload ceph:data.ctim...seqn0 (started ...)`.
 */
export function renderCleanStart(clean: CleanStart): string[] {
  const lines: string[] = [];
  for (const s of clean.snapshots) {
    lines.push(
      s.action === "destroy"
        ? `destroy stale snapshot ${s.snapshot.path} (left by process ${s.pid}; a copy of ${s.copyOf})`
        : `adopt stale snapshot ${s.snapshot.path} (left by process ${s.pid})`,
    );
  }
  for (const u of clean.uploads) {
    const what = `${u.remote}:${u.upload.key}`;
    const stored = u.stored
      ? `${u.stored.parts} part(s), ${formatSize(u.stored.bytes)} stored`
      : "";
    if (u.action === "resume") {
      lines.push(`resume upload of ${what}: ${stored}`);
      continue;
    }
    const since = u.upload.initiated
      ? `started ${u.upload.initiated.toISOString().replace(/\.\d+Z$/, "Z")}`
      : "";
    const detail = [since, stored].filter(Boolean).join(", ");
    lines.push(
      `${
        u.remoteKind === "local"
          ? "delete stale partial file of"
          : "abort stale upload"
      } ${what}${detail ? ` (${detail})` : ""}`,
    );
  }
  return lines;
}

/**
 * Destroys the stale copies and aborts the stale uploads (removing their
 * journals); resumed uploads are left for the plan's uploads.
 *
 * @param clean What was found and decided.
 * @param remotes The config's remotes.
 * @param log Told one line per action done.
 * @param signal Stops before the next action.
 * @returns How many snapshots were destroyed and uploads aborted.
 */
export async function carryOutCleanStart(
  clean: CleanStart,
  remotes: RemoteSet,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ destroyed: number; aborted: number }> {
  const done = { destroyed: 0, aborted: 0 };
  for (const s of clean.snapshots) {
    if (s.action !== "destroy") continue;
    signal?.throwIfAborted();
    await destroySnapshot(s.snapshot.path, { uuid: s.snapshot.uuid });
    done.destroyed++;
    log(`destroyed stale snapshot ${s.snapshot.path}`);
  }
  for (const u of clean.uploads) {
    if (u.action !== "abort") continue;
    signal?.throwIfAborted();
    await remotes.get(u.remote).abortOpenUpload(u.upload);
    await Deno.remove(u.journal).catch(() => {});
    done.aborted++;
    log(`aborted stale upload ${u.remote}:${u.upload.key}`);
  }
  return done;
}

function _escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
