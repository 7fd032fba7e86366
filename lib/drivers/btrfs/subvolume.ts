/**
 * Reading a subvolume's identity and times with BTRFS_IOC_GET_SUBVOL_INFO,
 * and the checks that a path is a subvolume on a given filesystem.
 *
 * @module
 */

import { resolve } from "node:path";
import type { SubvolumeInfo } from "../../core/types.ts";
import { BtrfsError, fsError } from "./errors.ts";
import {
  filesystemUuid,
  formatUuid,
  formatUuidOrNull,
  ioctlGetSubvolInfo,
} from "./ffi.ts";

// Every subvolume's root directory has this inode number (BTRFS_FIRST_FREE_OBJECTID).
const _SUBVOL_ROOT_INO = 256;
// BTRFS_ROOT_SUBVOL_RDONLY in the root item flags that GET_SUBVOL_INFO returns.
const _ROOT_SUBVOL_RDONLY = 1n;

// Offsets in struct btrfs_ioctl_get_subvol_info_args (linux/btrfs.h).
const _OFF = {
  treeid: 0,
  flags: 288,
  uuid: 296,
  parentUuid: 312,
  receivedUuid: 328,
  ctransid: 344,
  otransid: 352,
  ctime: 376,
  otime: 392,
} as const;

/**
 * Reads the metadata of the subvolume at `path` (uuid, parent and received
 * uuids, ctransid, otransid, ctime, otime, read-only flag, id). Needs
 * `--allow-ffi` and `--allow-read`, not root.
 *
 * Throws a {@linkcode BtrfsError} with code "not-btrfs" when `path` is not on
 * btrfs, "not-subvolume" when it is a plain directory inside a subvolume.
 */
export async function getSubvolumeInfo(path: string): Promise<SubvolumeInfo> {
  const abs = resolve(path);
  await assertSubvolume(abs);
  return parseSubvolInfo(abs, ioctlGetSubvolInfo(abs));
}

/**
 * Decodes a struct btrfs_ioctl_get_subvol_info_args into a
 * {@linkcode SubvolumeInfo} for `path`. Throws when a transid is above 2^53.
 */
export function parseSubvolInfo(path: string, buf: Uint8Array): SubvolumeInfo {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u64 = (off: number, what: string): number => {
    const v = dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BtrfsError(
        "too-large",
        `${what} of ${path} is ${v}, above 2^53: snap2s3 cannot represent it exactly`,
      );
    }
    return Number(v);
  };
  const time = (off: number): Temporal.Instant =>
    Temporal.Instant.fromEpochNanoseconds(
      dv.getBigInt64(off, true) * 1_000_000_000n +
        BigInt(dv.getUint32(off + 8, true)),
    );
  return {
    path,
    id: u64(_OFF.treeid, "subvolume id"),
    uuid: formatUuid(buf.subarray(_OFF.uuid, _OFF.uuid + 16)),
    parentUuid: formatUuidOrNull(
      buf.subarray(_OFF.parentUuid, _OFF.parentUuid + 16),
    ),
    receivedUuid: formatUuidOrNull(
      buf.subarray(_OFF.receivedUuid, _OFF.receivedUuid + 16),
    ),
    ctransid: u64(_OFF.ctransid, "ctransid"),
    otransid: u64(_OFF.otransid, "otransid"),
    ctime: time(_OFF.ctime),
    otime: time(_OFF.otime),
    readOnly: (dv.getBigUint64(_OFF.flags, true) & _ROOT_SUBVOL_RDONLY) !== 0n,
  };
}

/**
 * `Deno.stat` of `path` with the driver's errors: a missing `--allow-read`
 * gets its fix, and a missing path is "not-found" with `missing` as the
 * message when given.
 */
export async function statPath(
  path: string,
  missing?: string,
): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (missing !== undefined && e instanceof Deno.errors.NotFound) {
      throw new BtrfsError("not-found", missing, { cause: e });
    }
    throw fsError(e, path, "read");
  }
}

/**
 * Whether `path` is the root directory of a btrfs subvolume. False for plain
 * directories, files and paths on other filesystems; throws when it does not
 * exist.
 */
export async function isSubvolume(path: string): Promise<boolean> {
  const st = await statPath(path);
  if (!st.isDirectory || st.ino !== _SUBVOL_ROOT_INO) return false;
  try {
    ioctlGetSubvolInfo(path);
    return true;
  } catch (e) {
    if (e instanceof BtrfsError && e.code === "not-btrfs") return false;
    throw e;
  }
}

/** Throws a clear {@linkcode BtrfsError} unless `path` is a btrfs subvolume. */
export async function assertSubvolume(path: string): Promise<void> {
  const st = await statPath(path);
  if (!st.isDirectory) {
    throw new BtrfsError(
      "not-subvolume",
      `${path} is not a directory, so not a btrfs subvolume: give the path of a subvolume`,
    );
  }
  if (st.ino !== _SUBVOL_ROOT_INO) {
    // Tell apart "not btrfs at all" from "a plain directory on btrfs".
    ioctlGetSubvolInfo(path);
    throw new BtrfsError(
      "not-subvolume",
      `${path} is a plain directory, not a btrfs subvolume: give the subvolume's own path, or make one with \`btrfs subvolume create\``,
    );
  }
}

/**
 * Throws a clear {@linkcode BtrfsError} unless `a` and `b` are on the same
 * btrfs filesystem (compared by filesystem uuid, since every subvolume has its
 * own st_dev).
 */
export function assertSameFilesystem(a: string, b: string): void {
  const fa = filesystemUuid(a);
  const fb = filesystemUuid(b);
  if (fa !== fb) {
    throw new BtrfsError(
      "cross-filesystem",
      `${b} is on btrfs filesystem ${fb}, not on ${fa} with ${a}: snapshots can only be made on the source's own filesystem; choose a snapshot directory there`,
    );
  }
}
