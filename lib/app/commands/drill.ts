/**
 * `verify --drill DIR`: a restore rehearsal. The newest chain of each source
 * (or the one of a given uuid) is received into a scratch directory under
 * DIR, every file's SHA-256 compared with the local snapshot of the same
 * uuid when one exists, the time taken and the age of the data reported,
 * and the scratch snapshots deleted again.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { runBtrfs } from "../../drivers/btrfs/command.ts";
import {
  checkReceiveDir,
  getSubvolumeInfo,
} from "../../drivers/btrfs/driver.ts";
import type { Output } from "../output.ts";
import { commandContext } from "./_context.ts";
import type { UndoOptions } from "../undo_pipe.ts";
import { restore, RestoreError, type RestoreResult } from "./restore.ts";

/** Options of {@linkcode drill}. */
export interface DrillOptions extends UndoOptions {
  /** Remote id. */
  remote: string;
  /** A directory on btrfs for the scratch snapshots. */
  dir: string;
  /** A snapshot or source uuid (prefix) to drill instead of each source's latest. */
  uuid?: string;
  /** Only this source (see restore's `source`). */
  source?: string;
  /** Where lines go. */
  output?: Output;
}

/** One received snapshot, compared with its local original. */
export interface DrillSnapshot {
  /** The snapshot uuid it was received from. */
  uuid: string;
  /** Its name. */
  name: string;
  /** Files, directories and links in it. */
  entries: number;
  /** The local snapshot it was compared with; null when there is none. */
  comparedWith: string | null;
  /** Entries that differ (path and why), at most 20; empty when identical. */
  differences: string[];
}

/** Outcome of {@linkcode drill}. */
export interface DrillResult {
  /** Snapshots received and compared, in receive order. */
  snapshots: DrillSnapshot[];
  /** Seconds the restore took. */
  restoreSeconds: number;
  /** Seconds between the newest restored snapshot and now. */
  dataAgeSeconds: number | null;
  /** Whether the restore was complete and every compared snapshot identical. */
  ok: boolean;
  /** The restore's own report. */
  restore: RestoreResult;
}

/**
 * Rehearses a restore into a scratch directory and cleans up.
 *
 * @param configInput The config (for its sources' snapshot directories to compare with).
 * @param options See {@linkcode DrillOptions}.
 * @returns What was received, how it compared, the time taken and the data's age.
 */
export async function drill(
  configInput: Config | ConfigInput,
  options: DrillOptions,
): Promise<DrillResult> {
  const { config, out } = commandContext(configInput, options);
  const dir = await checkReceiveDir(options.dir);
  const scratch = await Deno.makeTempDir({ dir, prefix: "snap2s3-drill-" });
  try {
    const started = performance.now();
    let restored: RestoreResult;
    try {
      restored = await restore(config, {
        dest: scratch,
        remote: options.remote,
        uuid: options.uuid ?? "latest",
        source: options.source,
        pipeThrough: options.pipeThrough,
        identities: options.identities,
        output: out,
      });
    } catch (e) {
      if (!(e instanceof RestoreError)) throw e;
      restored = e.result;
    }
    const restoreSeconds = (performance.now() - started) / 1000;
    const locals = await _localSnapshots(config);
    const snapshots: DrillSnapshot[] = [];
    for (const info of restored.received) {
      const local = locals.get(info.receivedUuid!) ?? null;
      const got = await _tree(info.path);
      const snap: DrillSnapshot = {
        uuid: info.receivedUuid!,
        name: info.path.slice(scratch.length + 1),
        entries: got.size,
        comparedWith: local,
        differences: local ? _diff(got, await _tree(local)) : [],
      };
      snapshots.push(snap);
      out.log(
        local === null
          ? `drill: ${snap.name}: ${snap.entries} entries, no local snapshot to compare with`
          : snap.differences.length
          ? `drill: ${snap.name} DIFFERS from ${local}: ${
            snap.differences.join("; ")
          }`
          : `drill: ${snap.name}: identical to ${local} (${snap.entries} entries, SHA-256 of every file)`,
      );
    }
    const newest = restored.received.reduce<Temporal.Instant | null>(
      (a, s) => a && Temporal.Instant.compare(a, s.ctime) >= 0 ? a : s.ctime,
      null,
    );
    const dataAgeSeconds = newest === null
      ? null
      : Math.round(Temporal.Now.instant().since(newest).total("seconds"));
    const ok = restored.ok && snapshots.every((s) => !s.differences.length);
    out.log(
      `drill: restored ${restored.received.length} snapshot(s) in ${
        restoreSeconds.toFixed(1)
      } s; newest data ${
        dataAgeSeconds === null ? "?" : _age(dataAgeSeconds)
      } old; ${ok ? "ok" : "FAILED"}`,
    );
    return {
      snapshots,
      restoreSeconds,
      dataAgeSeconds,
      ok,
      restore: restored,
    };
  } finally {
    await _removeScratch(scratch);
  }
}

function _age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** Snapshots in the config's snapshot directories, by uuid. */
async function _localSnapshots(config: Config): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const src of config.sources) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(src.snapshots));
    } catch {
      continue;
    }
    for (const e of entries) {
      const path = join(src.snapshots, e.name);
      const info = await getSubvolumeInfo(path).catch(() => null);
      if (info) out.set(info.uuid, path);
    }
  }
  return out;
}

/** Every entry under `root`: `d` for a directory, `l:<target>` for a link, `f:<sha256>` for a file. */
async function _tree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      const name = rel + e.name;
      if (e.isSymlink) out.set(name, `l:${await Deno.readLink(path)}`);
      else if (e.isDirectory) {
        out.set(name, "d");
        await walk(path, `${name}/`);
      } else if (e.isFile) out.set(name, `f:${await _sha256(path)}`);
      else out.set(name, "other");
    }
  };
  await walk(root, "");
  return out;
}

async function _sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  // The readable closes the file at its end.
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

function _diff(got: Map<string, string>, want: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [path, v] of want) {
    const g = got.get(path);
    if (g === undefined) out.push(`${path} missing`);
    else if (g !== v) out.push(`${path} differs`);
  }
  for (const path of got.keys()) {
    if (!want.has(path)) out.push(`${path} extra`);
  }
  return out.slice(0, 20);
}

/** Deletes the scratch snapshots and the scratch directory. */
async function _removeScratch(scratch: string): Promise<void> {
  for await (const e of Deno.readDir(scratch)) {
    await runBtrfs(["subvolume", "delete", join(scratch, e.name)]).catch(
      () => Deno.remove(join(scratch, e.name), { recursive: true }),
    );
  }
  await Deno.remove(scratch);
}
