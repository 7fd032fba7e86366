/**
 * The locks of one run: every source of the config for `update` (taken in
 * one order, so two waiting runs cannot deadlock), the destination for
 * `restore`.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import type { Config } from "../core/config_types.ts";
import {
  acquireLock,
  describeHolder,
  restoreLockPath,
  type RunLock,
  sourceLockPath,
} from "./lock.ts";

/** Options of {@linkcode lockSources} and {@linkcode lockDestination}. */
export interface RunLockOptions {
  /** Recorded as the holder's command (`update`, `restore`, `daemon`). */
  command: string;
  /** Seconds to wait for a lock another run holds (0: fail at once; Infinity: no limit). */
  wait?: number;
  /** Stops waiting. */
  signal?: AbortSignal;
  /** Told one line when a lock is held and the run waits for it. */
  onWait?: (line: string) => void;
}

/** Locks held together, released together (in reverse order). */
export interface RunLocks extends AsyncDisposable {
  /** The locks, in the order taken. */
  readonly locks: readonly RunLock[];
  /** Releases every lock; a second call does nothing. */
  release(): Promise<void>;
}

/**
 * Locks every source of `config` (`<snapshots>/.snap2s3-<name>.lock`; the
 * snapshot directory is created when missing).
 *
 * @param config A validated config.
 * @param options The command, how long to wait.
 * @returns The held locks; release them with `await using` or `release()`.
 * @throws {LockHeldError} When another run still holds one at the deadline.
 */
export async function lockSources(
  config: Config,
  options: RunLockOptions,
): Promise<RunLocks> {
  const wanted = config.sources.map((s) => {
    const name = basename(resolve(s.path));
    return {
      path: sourceLockPath(s.snapshots, name),
      what: `source ${resolve(s.path)}`,
    };
  }).sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const seen = new Set<string>();
  const unique = wanted.filter((w) => !seen.has(w.path) && seen.add(w.path));
  return await _lockAll(unique, options, true);
}

/**
 * Locks a restore destination (`<dest>/.snap2s3-restore.lock`); the
 * directory must exist.
 *
 * @param dest The directory to receive into.
 * @param options The command, how long to wait.
 * @returns The held lock.
 * @throws {LockHeldError} When another run still holds it at the deadline.
 */
export async function lockDestination(
  dest: string,
  options: RunLockOptions,
): Promise<RunLocks> {
  return await _lockAll(
    [{
      path: restoreLockPath(dest),
      what: `restore destination ${resolve(dest)}`,
    }],
    options,
    false,
  );
}

async function _lockAll(
  wanted: { path: string; what: string }[],
  options: RunLockOptions,
  createDirectory: boolean,
): Promise<RunLocks> {
  const locks: RunLock[] = [];
  let released: Promise<void> | null = null;
  const release = (): Promise<void> => {
    released ??= (async () => {
      for (const lock of [...locks].reverse()) await lock.release();
    })();
    return released;
  };
  try {
    for (const w of wanted) {
      locks.push(
        await acquireLock(w.path, {
          command: options.command,
          wait: options.wait,
          signal: options.signal,
          what: w.what,
          createDirectory,
          onWait: (holder) =>
            options.onWait?.(
              `waiting for ${w.what}: locked by ${
                holder ? describeHolder(holder) : "another process"
              }${
                options.wait === undefined || options.wait === Infinity
                  ? ""
                  : ` (at most ${options.wait} s)`
              }`,
            ),
        }),
      );
    }
  } catch (e) {
    await release();
    if (e instanceof Deno.errors.NotFound && !createDirectory) {
      throw new Error(
        `${
          wanted[locks.length].what
        } does not exist: create it (a directory on a btrfs filesystem) or fix the path`,
        { cause: e },
      );
    }
    throw e;
  }
  return { locks, release, [Symbol.asyncDispose]: release };
}
