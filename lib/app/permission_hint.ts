/**
 * Turns Deno's permission errors into a one-line hint naming the flag.
 * Whether an error is one is decided by the drivers' detector, so the CLI
 * and the drivers agree.
 *
 * @module
 */

import { isDenoPermissionError } from "../drivers/btrfs/errors.ts";

const _flagOf: Record<string, string> = {
  read: "--allow-read",
  write: "--allow-write",
  run: "--allow-run",
  net: "--allow-net",
  env: "--allow-env",
  ffi: "--allow-ffi",
  sys: "--allow-sys",
  import: "--allow-import",
};

/**
 * A one-line hint for a missing Deno permission, or null when `error` is not one.
 *
 * @param error Anything thrown.
 * @returns e.g. `missing permission: run access to "btrfs"; grant it with --allow-run=btrfs`.
 */
export function permissionHint(error: unknown): string | null {
  // A driver may have wrapped the permission error in one that already names the flag.
  for (let e = error; e instanceof Error; e = e.cause) {
    if (isDenoPermissionError(e)) {
      if (e !== error && (error as Error).message.includes("--allow-")) {
        return (error as Error).message;
      }
      return _hint(e);
    }
  }
  return null;
}

function _hint(error: Error): string {
  const m = error.message.match(/Requires (\w+) access(?: to "([^"]*)")?/);
  if (!m) return `missing permission: ${error.message.split("\n")[0]}`;
  const [, kind, what] = m;
  const flag = _flagOf[kind] ?? `--allow-${kind}`;
  const value = what === undefined
    ? ""
    : `=${kind === "run" ? what.split("/").at(-1) : what}`;
  return `missing permission: ${kind} access${
    what === undefined ? "" : ` to "${what}"`
  }; grant it with ${flag}${value}`;
}
