/**
 * Snapshots of a source subvolume: discovery (as btrfs2s3 does it: read-only
 * subvolumes directly in the snapshot directory whose parent uuid is the
 * source's uuid; names are never parsed), filesystem sync, creation, rename
 * and destruction.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import type { SubvolumeInfo } from "../../core/types.ts";
import { runBtrfs } from "./command.ts";
import { BtrfsError, fsError } from "./errors.ts";
import {
  getSubvolFlags,
  ioctlGetSubvolInfo,
  renameNoReplace,
  setSubvolFlags,
  SUBVOL_FLAG_RDONLY,
  syncfs,
} from "./ffi.ts";
import {
  assertSameFilesystem,
  assertSubvolume,
  getSubvolumeInfo,
  parseSubvolInfo,
  statPath,
} from "./subvolume.ts";

/**
 * Lists the snapshots of `source` in `snapshotDir`: the read-only subvolumes
 * that are direct children of `snapshotDir` and whose parent uuid is the
 * source's uuid. Foreign and writable subvolumes and everything else are
 * ignored; names are not looked at here (the planner manages only the names
 * snap2s3 gives, and lists other snapshots of the source as foreign). Sorted
 * by ctransid, then path.
 *
 * `source` is a path or an already read {@linkcode SubvolumeInfo}.
 * Throws when `snapshotDir` is not on the source's filesystem.
 */
export async function listSnapshots(
  source: string | SubvolumeInfo,
  snapshotDir: string,
): Promise<SubvolumeInfo[]> {
  const src = typeof source === "string"
    ? await getSubvolumeInfo(source)
    : source;
  const dir = resolve(snapshotDir);
  await _assertDirectory(dir, "snapshot directory");
  assertSameFilesystem(src.path, dir);
  const found: SubvolumeInfo[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    throw fsError(e, dir, "read");
  }
  for (const entry of entries) {
    // readDir does not follow symlinks: a link to a snapshot elsewhere is not one here.
    if (!entry.isDirectory) continue;
    const path = join(dir, entry.name);
    let info: SubvolumeInfo;
    try {
      const st = await Deno.stat(path);
      if (st.ino !== 256) continue; // not a subvolume root
      info = parseSubvolInfo(path, ioctlGetSubvolInfo(path));
    } catch (e) {
      // Deleted while we looked: not a snapshot any more.
      if (e instanceof Deno.errors.NotFound) continue;
      if (e instanceof BtrfsError && e.code === "not-found") continue;
      throw fsError(e, path, "read");
    }
    if (info.readOnly && info.parentUuid === src.uuid) found.push(info);
  }
  return found.sort((a, b) =>
    a.ctransid - b.ctransid || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}

/**
 * Commits the btrfs filesystem holding `path` (syncfs(2)), so that the
 * source's ctransid includes every write made before the call: data written
 * into existing files reaches ctransid only when btrfs commits. Call it
 * before comparing ctransids to decide whether a new snapshot is needed.
 */
export async function syncFilesystem(path: string): Promise<void> {
  await syncfs(resolve(path));
}

/**
 * Creates a read-only snapshot of `source` named `name` in `snapshotDir`
 * (`btrfs subvolume snapshot -r`) and returns its info. btrfs2s3's
 * convention is to create `<name>.NEW.<pid>` and rename it afterwards.
 *
 * Throws when `source` is not a subvolume, `snapshotDir` is not on its
 * filesystem, `name` is not a plain name, or the target already exists.
 */
export async function createSnapshot(
  source: string,
  snapshotDir: string,
  name: string,
): Promise<SubvolumeInfo> {
  _assertName(name);
  const src = resolve(source);
  const dir = resolve(snapshotDir);
  await assertSubvolume(src);
  await _assertDirectory(dir, "snapshot directory");
  assertSameFilesystem(src, dir);
  const target = join(dir, name);
  await _assertAbsent(target);
  await runBtrfs(["subvolume", "snapshot", "-r", src, target]);
  return await getSubvolumeInfo(target);
}

/**
 * Renames the snapshot at `path` to `newName` in the same directory, never
 * replacing anything (RENAME_NOREPLACE), and returns its info at the new path.
 */
export async function renameSnapshot(
  path: string,
  newName: string,
): Promise<SubvolumeInfo> {
  _assertName(newName);
  const from = resolve(path);
  await assertSubvolume(from);
  const to = join(dirname(from), newName);
  if (to === from) return await getSubvolumeInfo(from);
  try {
    renameNoReplace(from, to);
  } catch (e) {
    if (e instanceof BtrfsError && e.code === "exists") {
      throw new BtrfsError(
        "exists",
        `cannot rename ${from} to ${to}: ${to} already exists; nothing was replaced`,
        { cause: e },
      );
    }
    throw e;
  }
  return await getSubvolumeInfo(to);
}

/** Options for {@linkcode destroySnapshot}. */
export interface DestroyOptions {
  /** Refuse unless the subvolume at the path has this uuid (guards against a swapped path). */
  uuid?: string;
}

/**
 * Destroys the read-only snapshot at `path` (`btrfs subvolume delete`).
 * Refuses writable subvolumes and, with `options.uuid`, a subvolume with
 * another uuid: this deletes only snapshots.
 *
 * As root this always works. As another user it works where the filesystem is
 * mounted with `user_subvol_rm_allowed` (the snapshot's read-only flag is
 * cleared first, as the kernel requires, and restored if the delete fails);
 * elsewhere it throws an error naming that mount option.
 */
export async function destroySnapshot(
  path: string,
  options: DestroyOptions = {},
): Promise<void> {
  const abs = resolve(path);
  const info = await getSubvolumeInfo(abs);
  if (!info.readOnly) {
    throw new BtrfsError(
      "not-snapshot",
      `refusing to destroy ${abs}: it is a writable subvolume, not a read-only snapshot`,
    );
  }
  if (options.uuid !== undefined && options.uuid !== info.uuid) {
    throw new BtrfsError(
      "not-snapshot",
      `refusing to destroy ${abs}: its uuid is ${info.uuid}, not the planned ${options.uuid}`,
    );
  }
  try {
    await runBtrfs(["subvolume", "delete", abs]);
    return;
  } catch (e) {
    if (!(e instanceof BtrfsError)) throw e;
    if (/Operation not permitted/i.test(e.message)) {
      throw _notPermitted(abs, e);
    }
    // Non-root with user_subvol_rm_allowed: the kernel wants write access to the
    // snapshot's root, which a read-only subvolume denies.
    if (!/Read-only file system/i.test(e.message)) throw e;
  }
  const flags = getSubvolFlags(abs);
  try {
    setSubvolFlags(abs, flags & ~SUBVOL_FLAG_RDONLY);
  } catch (e) {
    throw _notPermitted(abs, e);
  }
  try {
    await runBtrfs(["subvolume", "delete", abs]);
  } catch (e) {
    // Leave it as found: a writable leftover would no longer count as a snapshot.
    setSubvolFlags(abs, flags);
    throw e;
  }
}

function _notPermitted(path: string, cause: unknown): BtrfsError {
  return new BtrfsError(
    "permission",
    `not permitted to destroy snapshot ${path}: run as root, or as its owner on a filesystem mounted with user_subvol_rm_allowed (e.g. mount -o remount,user_subvol_rm_allowed <mount point>)`,
    { cause },
  );
}

function _assertName(name: string): void {
  if (
    name === "" || name === "." || name === ".." || name.includes("/") ||
    name.includes("\0") || basename(name) !== name
  ) {
    throw new BtrfsError(
      "command-failed",
      `invalid snapshot name ${
        JSON.stringify(name)
      }: give a plain file name without "/"`,
    );
  }
}

async function _assertDirectory(path: string, what: string): Promise<void> {
  const st = await statPath(
    path,
    `${what} ${path} does not exist: create it on the source's btrfs filesystem`,
  );
  if (!st.isDirectory) {
    throw new BtrfsError("not-found", `${what} ${path} is not a directory`);
  }
}

async function _assertAbsent(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw fsError(e, path, "read");
  }
  throw new BtrfsError(
    "exists",
    `${path} already exists: choose another snapshot name`,
  );
}
