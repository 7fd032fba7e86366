/**
 * Errors of the btrfs source driver: one class with a machine-readable code,
 * and translations of Deno's permission and not-found errors into one-line
 * fixes.
 *
 * @module
 */

/** What went wrong, for callers that branch on it. */
export type BtrfsErrorCode =
  | "not-btrfs"
  | "not-subvolume"
  | "cross-filesystem"
  | "progs-missing"
  | "permission"
  | "unsupported"
  | "exists"
  | "not-found"
  | "not-snapshot"
  | "too-large"
  | "read-only"
  | "stream-mismatch"
  | "command-failed";

/** An error of the btrfs driver; the message names the problem and the fix. */
export class BtrfsError extends Error {
  /** What went wrong. */
  readonly code: BtrfsErrorCode;

  /** Makes an error with `code`; `cause` keeps the original error. */
  constructor(code: BtrfsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BtrfsError";
    this.code = code;
  }
}

/** Whether `e` is Deno refusing an operation for lack of a permission flag. */
export function isDenoPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable ||
    // Older Deno and some code paths report a missing flag as PermissionDenied.
    (e instanceof Deno.errors.PermissionDenied &&
      /--allow-|Requires .* access/.test(e.message));
}

/**
 * Translates an error from loading libc through FFI. A missing `--allow-ffi`
 * becomes a one-line fix; anything else says the driver needs glibc Linux.
 */
export function ffiLoadError(e: unknown): BtrfsError {
  if (isDenoPermissionError(e)) {
    return _flagMissing(
      e,
      "reading btrfs subvolume metadata needs FFI access",
      "--allow-ffi",
    );
  }
  return new BtrfsError(
    "unsupported",
    `cannot load libc.so.6 through FFI (the btrfs driver needs Linux with glibc): ${
      _message(e)
    }`,
    { cause: e },
  );
}

/**
 * Translates an error from spawning `btrfs`: a missing binary or a missing
 * `--allow-run` permission get one-line fixes; other errors pass through.
 */
export function spawnError(e: unknown): unknown {
  if (isDenoPermissionError(e)) {
    return _flagMissing(
      e,
      "running btrfs needs permission",
      "--allow-run=btrfs",
    );
  }
  if (e instanceof Deno.errors.NotFound) {
    return new BtrfsError(
      "progs-missing",
      "the btrfs command was not found on PATH: install btrfs-progs (e.g. apt-get install btrfs-progs)",
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new BtrfsError(
      "permission",
      `the btrfs command cannot be executed (${
        _message(e)
      }): check the permissions of the btrfs binary on PATH`,
      { cause: e },
    );
  }
  return e;
}

/**
 * Translates an error of a Deno file system call on `path`: a missing
 * `--allow-read`/`--allow-write` gets a one-line fix, a missing path says so.
 */
export function fsError(
  e: unknown,
  path: string,
  access: "read" | "write",
): unknown {
  if (isDenoPermissionError(e)) {
    const doing = access === "read" ? "reading" : "changing";
    return _flagMissing(
      e,
      `${doing} ${path} needs permission`,
      `--allow-${access}`,
    );
  }
  if (e instanceof Deno.errors.NotFound) {
    return new BtrfsError("not-found", `${path} does not exist`, { cause: e });
  }
  return e;
}

/** A missing Deno permission flag, as "<what>: run deno with <flag>". */
function _flagMissing(e: unknown, what: string, flag: string): BtrfsError {
  return new BtrfsError("permission", `${what}: run deno with ${flag}`, {
    cause: e,
  });
}

function _message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
