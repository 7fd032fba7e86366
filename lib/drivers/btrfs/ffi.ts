/**
 * The few libc calls the btrfs driver makes through Deno FFI: btrfs ioctls
 * (subvolume info, filesystem info, subvolume flags), syncfs and a rename
 * that never replaces. libc is opened on first use and cached.
 *
 * @module
 */

import { BtrfsError, type BtrfsErrorCode, ffiLoadError } from "./errors.ts";

// ioctl requests are _IOR/_IOW(0x94, nr, size) from linux/btrfs.h.
const _IOC_GET_SUBVOL_INFO = 0x81F8943Cn; // _IOR(0x94, 60, 504 bytes)
const _IOC_FS_INFO = 0x8400941Fn; // _IOR(0x94, 31, 1024 bytes)
const _IOC_SUBVOL_GETFLAGS = 0x80089419n; // _IOR(0x94, 25, u64)
const _IOC_SUBVOL_SETFLAGS = 0x4008941An; // _IOW(0x94, 26, u64)

/** Size of struct btrfs_ioctl_get_subvol_info_args. */
export const SUBVOL_INFO_SIZE = 504;
/** BTRFS_SUBVOL_RDONLY, the read-only bit of SUBVOL_GETFLAGS/SETFLAGS. */
export const SUBVOL_FLAG_RDONLY = 2n;

const _O_RDONLY = 0;
const _O_CLOEXEC = 0o2000000;
const _O_NONBLOCK = 0o4000;
const _F_SETPIPE_SZ = 1031;
const _AT_FDCWD = -100;
const _RENAME_NOREPLACE = 1;

const _SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // A filesystem commit can take a while: keep it off the JS thread.
  syncfs: { parameters: ["i32"], result: "i32", nonblocking: true },
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type _Libc = Deno.DynamicLibrary<typeof _SYMBOLS>["symbols"];

let _libc: _Libc | undefined;

function _lib(): _Libc {
  if (_libc === undefined) {
    try {
      _libc = Deno.dlopen("libc.so.6", _SYMBOLS).symbols;
    } catch (e) {
      throw ffiLoadError(e);
    }
  }
  return _libc;
}

function _errno(lib: _Libc): number {
  const p = lib.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

function _cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

const _ERRNO: Record<number, [string, BtrfsErrorCode]> = {
  1: ["EPERM: operation not permitted", "permission"],
  2: ["ENOENT: no such file or directory", "not-found"],
  13: ["EACCES: permission denied", "permission"],
  17: ["EEXIST: file exists", "exists"],
  18: ["EXDEV: cross-device link", "cross-filesystem"],
  20: ["ENOTDIR: not a directory", "not-found"],
  22: ["EINVAL: invalid argument", "command-failed"],
  25: ["ENOTTY: not a btrfs filesystem", "not-btrfs"],
  30: ["EROFS: read-only file system", "permission"],
  39: ["ENOTEMPTY: directory not empty", "exists"],
};

/** An error for a failed libc call, named by errno. */
export function errnoError(
  what: string,
  errno: number,
  fix = "",
): BtrfsError {
  const [text, code] = _ERRNO[errno] ?? [`errno ${errno}`, "command-failed"];
  return new BtrfsError(
    code,
    `${what}: ${text}${fix ? `: ${fix}` : ""}`,
  );
}

/** Opens `path` read-only, runs `fn` with the fd and closes it. */
function _withFd<T>(path: string, fn: (lib: _Libc, fd: number) => T): T {
  const lib = _lib();
  const fd = lib.open(_cString(path), _O_RDONLY | _O_CLOEXEC);
  if (fd < 0) throw errnoError(`cannot open ${path}`, _errno(lib));
  try {
    return fn(lib, fd);
  } finally {
    lib.close(fd);
  }
}

/** A failed read-only btrfs ioctl: ENOTTY or EINVAL mean the path is not on btrfs. */
function _btrfsIoctlError(
  path: string,
  what: string,
  errno: number,
): BtrfsError {
  if (errno === 25 || errno === 22) {
    return new BtrfsError(
      "not-btrfs",
      `${path} is not on a btrfs filesystem: give a path on a mounted btrfs`,
    );
  }
  return errnoError(`cannot read ${what} of ${path}`, errno);
}

/**
 * Runs BTRFS_IOC_GET_SUBVOL_INFO on `path` and returns the raw 504-byte
 * struct btrfs_ioctl_get_subvol_info_args. Needs no root.
 */
export function ioctlGetSubvolInfo(path: string): Uint8Array<ArrayBuffer> {
  return _withFd(path, (lib, fd) => {
    const buf = new Uint8Array(SUBVOL_INFO_SIZE);
    // Success is any non-negative return (0 for the top level, 1 for others).
    if (lib.ioctl(fd, _IOC_GET_SUBVOL_INFO, buf) < 0) {
      throw _btrfsIoctlError(path, "subvolume info", _errno(lib));
    }
    return buf;
  });
}

/** The uuid (fsid) of the btrfs filesystem holding `path`, from BTRFS_IOC_FS_INFO. */
export function filesystemUuid(path: string): string {
  return _withFd(path, (lib, fd) => {
    const buf = new Uint8Array(1024);
    if (lib.ioctl(fd, _IOC_FS_INFO, buf) < 0) {
      throw _btrfsIoctlError(path, "filesystem info", _errno(lib));
    }
    return formatUuid(buf.subarray(16, 32));
  });
}

/** Reads the subvolume flags (BTRFS_IOC_SUBVOL_GETFLAGS) of the subvolume at `path`. */
export function getSubvolFlags(path: string): bigint {
  return _withFd(path, (lib, fd) => {
    const buf = new Uint8Array(8);
    if (lib.ioctl(fd, _IOC_SUBVOL_GETFLAGS, buf) < 0) {
      throw errnoError(`cannot read subvolume flags of ${path}`, _errno(lib));
    }
    return new DataView(buf.buffer).getBigUint64(0, true);
  });
}

/** Sets the subvolume flags (BTRFS_IOC_SUBVOL_SETFLAGS); needs ownership or root. */
export function setSubvolFlags(path: string, flags: bigint): void {
  _withFd(path, (lib, fd) => {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, flags, true);
    if (lib.ioctl(fd, _IOC_SUBVOL_SETFLAGS, buf) < 0) {
      throw errnoError(`cannot set subvolume flags of ${path}`, _errno(lib));
    }
  });
}

/**
 * syncfs(2) on the filesystem holding `path`: writes back dirty data and, on
 * btrfs, commits the running transaction, so ctransid shows every write made
 * before the call.
 */
export async function syncfs(path: string): Promise<void> {
  const lib = _lib();
  const fd = lib.open(_cString(path), _O_RDONLY | _O_CLOEXEC);
  if (fd < 0) throw errnoError(`cannot open ${path}`, _errno(lib));
  try {
    // errno is per thread and this call runs on another one: report the return only.
    if (await lib.syncfs(fd) < 0) {
      throw new BtrfsError(
        "command-failed",
        `syncfs failed on the filesystem of ${path}`,
      );
    }
  } finally {
    lib.close(fd);
  }
}

/**
 * Reads a small file (at most 4 KiB) through libc; null when it does not
 * exist. For /sys files, which Deno's own file API only reads with
 * --allow-all.
 */
export function readSmallFile(path: string): string | null {
  const lib = _lib();
  const fd = lib.open(_cString(path), _O_RDONLY | _O_CLOEXEC);
  if (fd < 0) {
    const errno = _errno(lib);
    if (errno === 2) return null;
    throw errnoError(`cannot open ${path}`, errno);
  }
  try {
    const buf = new Uint8Array(4096);
    const n = Number(lib.read(fd, buf, BigInt(buf.length)));
    if (n < 0) throw errnoError(`cannot read ${path}`, _errno(lib));
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    lib.close(fd);
  }
}

/**
 * Grows the pipe behind file descriptor `fd` of process `pid` (a child of
 * ours) to `bytes` with F_SETPIPE_SZ, through /proc/<pid>/fd/<fd>. Best
 * effort: returns whether it worked (it fails once the child exited, or
 * beyond the unprivileged pipe size limits).
 */
export function enlargePipe(pid: number, fd: number, bytes: number): boolean {
  let lib: _Libc;
  try {
    lib = _lib();
  } catch {
    return false;
  }
  // Any open file of a pipe sets its size; O_NONBLOCK so the open never waits.
  const p = lib.open(
    _cString(`/proc/${pid}/fd/${fd}`),
    _O_RDONLY | _O_NONBLOCK | _O_CLOEXEC,
  );
  if (p < 0) return false;
  try {
    return lib.fcntl(p, _F_SETPIPE_SZ, bytes) >= bytes;
  } finally {
    lib.close(p);
  }
}

/**
 * Renames `from` to `to` with RENAME_NOREPLACE: fails with code "exists"
 * instead of replacing anything at `to`.
 */
export function renameNoReplace(from: string, to: string): void {
  const lib = _lib();
  if (lib.renameat2 === null) {
    throw new BtrfsError("unsupported", "libc has no renameat2");
  }
  const r = lib.renameat2(
    _AT_FDCWD,
    _cString(from),
    _AT_FDCWD,
    _cString(to),
    _RENAME_NOREPLACE,
  );
  if (r < 0) throw errnoError(`cannot rename ${from} to ${to}`, _errno(lib));
}

/** Formats 16 bytes as a lowercase canonical uuid; null when all zero. */
export function formatUuidOrNull(bytes: Uint8Array): string | null {
  return bytes.every((b) => b === 0) ? null : formatUuid(bytes);
}

/** Formats 16 bytes as a lowercase canonical uuid (8-4-4-4-12). */
export function formatUuid(bytes: Uint8Array): string {
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20, 32)}`;
}
