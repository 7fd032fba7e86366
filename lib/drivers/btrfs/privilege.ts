/**
 * Whether this process may snapshot, send and delete subvolumes: those
 * ioctls need CAP_SYS_ADMIN (which root has unless it was dropped). Read from /proc/self/status through
 * libc, so it needs `--allow-ffi` only (not --allow-sys or --allow-read).
 *
 * @module
 */

import { readSmallFile } from "./ffi.ts";

// CAP_SYS_ADMIN, from linux/capability.h.
const _CAP_SYS_ADMIN = 21n;

/** What /proc/self/status says about this process's privileges. */
export interface Privilege {
  /** The effective user id. */
  euid: number;
  /** Whether CAP_SYS_ADMIN is in the effective set. */
  sysAdmin: boolean;
}

/**
 * Reads the effective uid and whether CAP_SYS_ADMIN is effective.
 *
 * @returns The privilege, or null when /proc is not there to tell.
 */
export function processPrivilege(): Privilege | null {
  const status = readSmallFile("/proc/self/status");
  if (status === null) return null;
  return parseProcStatus(status);
}

/**
 * Parses the `Uid:` and `CapEff:` lines of /proc/<pid>/status.
 *
 * @param status The file's text.
 * @returns The privilege, or null when either line is missing.
 */
export function parseProcStatus(status: string): Privilege | null {
  const uid = status.match(/^Uid:\s+\d+\s+(\d+)/m);
  const cap = status.match(/^CapEff:\s+([0-9a-fA-F]+)/m);
  if (!uid || !cap) return null;
  return {
    euid: Number(uid[1]),
    sysAdmin: ((BigInt(`0x${cap[1]}`) >> _CAP_SYS_ADMIN) & 1n) === 1n,
  };
}
