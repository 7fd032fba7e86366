/**
 * Layout validation: the checks of a config against the disks, run before
 * anything is created (not even a directory). What the schema cannot see:
 * a snapshot directory inside the source subvolume (every snapshot made
 * there changes the source, so each run would make, upload and destroy
 * another), a snapshot directory on another filesystem (btrfs snapshots
 * stay on their filesystem), the same subvolume listed twice under two
 * paths, and a local remote inside a source or the same as another through
 * a symlink.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import type { Config } from "../../core/config_types.ts";
import {
  assertSameFilesystem,
  BtrfsError,
  getSubvolumeInfo,
} from "../../drivers/btrfs/driver.ts";
import { ConfigError, type ConfigProblem } from "./error.ts";

/** Driver errors that mean the configured path is wrong, not that the run failed. */
const _BAD_PATH = new Set(["not-btrfs", "not-subvolume", "not-found"]);

/** What a configured directory is on disk: itself or, when absent, the nearest ancestor that exists. */
interface _Existing {
  /** The configured path, resolved. */
  path: string;
  /** The path itself, or its nearest existing ancestor. */
  existing: string;
  /** `existing` with symlinks resolved. */
  real: string;
  info: Deno.FileInfo;
}

async function _existing(path: string): Promise<_Existing> {
  const abs = resolve(path);
  for (let p = abs;; p = dirname(p)) {
    try {
      const info = await Deno.stat(p);
      return { path: abs, existing: p, real: await Deno.realPath(p), info };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || p === "/") throw e;
    }
  }
}

function _within(real: string, root: string): boolean {
  return real === root || real.startsWith(root === "/" ? "/" : `${root}/`);
}

/** A source as found on disk. */
interface _Source {
  index: number;
  path: string;
  real: string;
  dev: number;
}

/**
 * Checks the layout of a validated config on disk, without changing
 * anything: every source is a btrfs subvolume, listed once (by subvolume
 * uuid); every snapshot directory is on its source's filesystem and outside
 * its source subvolume (a subvolume of its own inside it is fine); no local
 * remote is inside a source subvolume or the same directory as another.
 * `update` runs it first.
 *
 * @param config A validated config.
 * @throws {ConfigError} With one line per problem, naming the field and the fix.
 */
export async function validateLayout(config: Config): Promise<void> {
  const problems: ConfigProblem[] = [];
  const sources: _Source[] = [];
  const uuids = new Map<string, number>();
  for (const [i, src] of config.sources.entries()) {
    let uuid: string;
    try {
      uuid = (await getSubvolumeInfo(src.path)).uuid;
    } catch (e) {
      if (!(e instanceof BtrfsError && _BAD_PATH.has(e.code))) throw e;
      const fix = e.code === "not-found"
        ? "; give the path of an existing btrfs subvolume"
        : "";
      problems.push({ path: ["sources", i, "path"], message: e.message + fix });
      continue;
    }
    const first = uuids.get(uuid);
    if (first !== undefined) {
      problems.push({
        path: ["sources", i, "path"],
        message: `${
          JSON.stringify(src.path)
        } is the same subvolume as sources[${first}] (${
          JSON.stringify(config.sources[first].path)
        }, uuid ${uuid}); list each subvolume once, with several uploads if needed`,
      });
      continue;
    }
    uuids.set(uuid, i);
    const info = await Deno.stat(src.path);
    const source = {
      index: i,
      path: src.path,
      real: await Deno.realPath(src.path),
      dev: info.dev,
    };
    sources.push(source);
    const problem = await _snapshotDirProblem(src.snapshots, source);
    if (problem) {
      problems.push({ path: ["sources", i, "snapshots"], message: problem });
    }
  }
  problems.push(...await _localRemoteProblems(config, sources));
  if (problems.length > 0) throw new ConfigError(problems);
}

async function _snapshotDirProblem(
  snapshots: string,
  source: _Source,
): Promise<string | null> {
  const dir = await _existing(snapshots);
  const quoted = JSON.stringify(snapshots);
  if (!dir.info.isDirectory) {
    return dir.existing === dir.path
      ? `${quoted} is not a directory; give the directory snapshots are kept in`
      : `${quoted} cannot be made: ${
        JSON.stringify(dir.existing)
      } is not a directory; give a directory path`;
  }
  try {
    assertSameFilesystem(source.path, dir.existing);
  } catch (e) {
    if (!(e instanceof BtrfsError)) throw e;
    return `${quoted} is not on the btrfs filesystem of the source ${
      JSON.stringify(source.path)
    }, and btrfs makes snapshots only within a filesystem; choose a snapshot directory on the source's filesystem, outside the source`;
  }
  // A subvolume nested in the source has its own st_dev: snapshots made in it do not change the source.
  if (_within(dir.real, source.real) && dir.info.dev === source.dev) {
    return `${quoted} is inside the source subvolume ${
      JSON.stringify(source.path)
    }: every snapshot made there changes the source, so each run would make, upload and destroy another; choose a directory outside the source (e.g. next to it), or make ${quoted} a subvolume of its own (btrfs subvolume create)`;
  }
  return null;
}

async function _localRemoteProblems(
  config: Config,
  sources: _Source[],
): Promise<ConfigProblem[]> {
  const out: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  // An unused remote is never written to, so it cannot disturb a source.
  const used = new Set(
    config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
  );
  for (const [k, remote] of config.remotes.entries()) {
    if (remote.kind !== "local" || !used.has(remote.id)) continue;
    const dir = await _existing(remote.path);
    const at = ["remotes", k, "path"];
    const quoted = JSON.stringify(remote.path);
    const inside = sources.find((s) =>
      _within(dir.real, s.real) && dir.info.dev === s.dev
    );
    if (inside) {
      out.push({
        path: at,
        message:
          `${quoted} is inside the source subvolume sources[${inside.index}] (${
            JSON.stringify(inside.path)
          }): every backup written there changes the source, so each run would make another snapshot; choose a directory outside the source`,
      });
      continue;
    }
    const first = dir.existing === dir.path ? seen.get(dir.real) : undefined;
    if (first !== undefined) {
      out.push({
        path: at,
        message: `${quoted} is the same directory as remotes[${first}] (${
          JSON.stringify(config.remotes[first].id)
        }) through a symbolic link: each would take the other's backups for its own; give every remote its own directory`,
      });
      continue;
    }
    if (dir.existing === dir.path) seen.set(dir.real, k);
  }
  return out;
}
