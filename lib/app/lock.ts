/**
 * One run at a time: an exclusive `flock` on a lock file (per source, in its
 * snapshot directory; per restore destination). The file records who holds
 * it (pid, host, start time, command), so a second run can name the holder.
 *
 * Invariants:
 * - The lock is the kernel's `flock` on an open file, so it dies with its
 *   holder: a run killed with SIGKILL never leaves a stale lock, and the
 *   pid in the file is only believed while the lock is held.
 * - The holder removes the file on release. A waiter that locked the old,
 *   removed file notices (the path no longer names the file it locked) and
 *   tries again, so two runs never both hold a lock for the same path.
 * - Files are opened close-on-exec: `btrfs send` and pipe stages do not
 *   inherit the lock and cannot keep it after their parent died.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";

/** Who holds a lock, as recorded in its lock file. */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder's machine (a lock file may sit on a shared filesystem). */
  host: string;
  /** When the holder took the lock, ISO 8601 UTC. */
  since: string;
  /** What the holder runs, e.g. `update`. */
  command: string;
}

/** Raised when a lock is held by another run (exit code 75, try again later). */
export class LockHeldError extends Error {
  /** The lock file. */
  readonly path: string;
  /** The holder, or null when its lock file did not say (written by an older or foreign program). */
  readonly holder: LockHolder | null;

  /**
   * Builds the one-line message naming the holder and the fix.
   *
   * @param what What the lock guards, e.g. `source /mnt/data`.
   * @param path The lock file.
   * @param holder Who holds it, if known.
   * @param waited Seconds waited before giving up (0: did not wait).
   */
  constructor(
    what: string,
    path: string,
    holder: LockHolder | null,
    waited = 0,
  ) {
    const by = holder === null
      ? "another process (its lock file does not say which)"
      : describeHolder(holder);
    const after = waited > 0 ? ` after waiting ${_duration(waited)}` : "";
    super(
      `${what} is locked by ${by}${after} (lock file ${path}); try again later, or wait for it with --wait-lock[=SECONDS]`,
    );
    this.name = "LockHeldError";
    this.path = path;
    this.holder = holder;
  }
}

/** Options of {@linkcode acquireLock}. */
export interface AcquireLockOptions {
  /** Seconds to wait for a held lock: 0 (the default) fails at once, Infinity waits until it is free. */
  wait?: number;
  /** Stops waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** What the lock guards, for the error message (default: the lock file). */
  what?: string;
  /** Recorded as the holder's command (default `snap2s3`). */
  command?: string;
  /**
   * Create the lock file's directory when it is missing; what was created is
   * removed again on release when still empty (a refused run leaves nothing).
   */
  createDirectory?: boolean;
  /** Called once when the lock is held by another run and we start waiting for it. */
  onWait?: (holder: LockHolder | null) => void;
}

/** A lock this process holds; release it with {@linkcode RunLock.release} or `await using`. */
export interface RunLock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** What this process recorded in it. */
  readonly holder: LockHolder;
  /** Removes the lock file and releases the lock; a second call does nothing. */
  release(): Promise<void>;
}

// Polling backoff while waiting for a held lock: 50 ms, doubling to 2 s.
const _POLL_FIRST_MS = 50;
const _POLL_MAX_MS = 2000;

/**
 * The lock file of a source: `<snapshotDir>/.snap2s3-<source name>.lock`
 * (a regular file: btrfs2s3 and snap2s3 look only at subvolumes there).
 *
 * @param snapshotDir The source's snapshot directory.
 * @param sourceName The source's directory name.
 * @returns The lock file's path.
 */
export function sourceLockPath(
  snapshotDir: string,
  sourceName: string,
): string {
  return join(resolve(snapshotDir), `.snap2s3-${sourceName}.lock`);
}

/**
 * The journal of an interrupted upload of `key` to `remoteId`, beside the
 * source's lock: `<snapshotDir>/.snap2s3-<source name>.<hash>.upload`.
 *
 * @param snapshotDir The source's snapshot directory.
 * @param sourceName The source's directory name.
 * @param remoteId The remote's id.
 * @param key The backup's `.seqn0` key.
 * @returns The journal's path.
 */
export function uploadJournalPath(
  snapshotDir: string,
  sourceName: string,
  remoteId: string,
  key: string,
): string {
  const hash = createHash("sha256").update(`${remoteId}\0${key}`).digest(
    "hex",
  ).slice(0, 16);
  return join(resolve(snapshotDir), `.snap2s3-${sourceName}.${hash}.upload`);
}

/**
 * The lock file of a restore destination: `<dest>/.snap2s3-restore.lock`.
 *
 * @param dest The directory snapshots are received into.
 * @returns The lock file's path.
 */
export function restoreLockPath(dest: string): string {
  return join(resolve(dest), ".snap2s3-restore.lock");
}

/**
 * Takes the exclusive lock `path`, waiting up to `options.wait` seconds
 * (polling with backoff) while another process holds it.
 *
 * @param path The lock file (created when missing).
 * @param options How long to wait; what the lock guards.
 * @returns The held lock.
 * @throws {LockHeldError} When another process still holds it at the deadline.
 */
export async function acquireLock(
  path: string,
  options: AcquireLockOptions = {},
): Promise<RunLock> {
  const file = resolve(path);
  const wait = options.wait ?? 0;
  if (!(wait >= 0)) {
    throw new RangeError(`lock wait ${wait} must be 0 or more seconds`);
  }
  const created: string[] = [];
  const start = performance.now();
  let delay = _POLL_FIRST_MS;
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (options.createDirectory) created.push(...await _makeDirs(file));
    let held;
    try {
      held = await _tryLock(file, options.command ?? "snap2s3", created);
    } catch (e) {
      // A holder that made the directory removed it on release: make it again.
      if (options.createDirectory && e instanceof Deno.errors.NotFound) {
        continue;
      }
      throw e;
    }
    if (held === "moved") continue;
    if (held) return held;
    const waited = (performance.now() - start) / 1000;
    if (waited >= wait) {
      throw new LockHeldError(
        options.what ?? `lock ${file}`,
        file,
        await _holderOf(file),
        wait === 0 ? 0 : waited,
      );
    }
    if (!told) {
      told = true;
      options.onWait?.(await _holderOf(file));
    }
    await _sleep(Math.min(delay, (wait - waited) * 1000), options.signal);
    delay = Math.min(delay * 2, _POLL_MAX_MS);
  }
}

/**
 * Reads who holds the lock `path` from its file; null when it is missing,
 * empty (the holder has not written it yet) or not written by snap2s3. The
 * answer is only meaningful while the lock is held.
 *
 * @param path The lock file.
 * @returns The recorded holder, or null.
 */
export async function readLockHolder(path: string): Promise<LockHolder | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text);
    if (
      typeof v?.pid === "number" && typeof v.host === "string" &&
      typeof v.since === "string" && typeof v.command === "string"
    ) {
      return { pid: v.pid, host: v.host, since: v.since, command: v.command };
    }
  } catch { /* not ours, or half written */ }
  return null;
}

/**
 * One line naming a holder: `snap2s3 update (pid 4242 on backup1, since 2026-05-01T10:00:00Z, 3 min ago)`.
 *
 * @param holder The holder.
 * @param now The time to measure "ago" from (default: now).
 * @returns The description.
 */
export function describeHolder(
  holder: LockHolder,
  now: number = Date.now(),
): string {
  const since = Date.parse(holder.since);
  const ago = Number.isFinite(since)
    ? `, ${_duration(Math.max(0, (now - since) / 1000))} ago`
    : "";
  const command = holder.command.startsWith("snap2s3")
    ? holder.command
    : `snap2s3 ${holder.command}`;
  return `${command} (pid ${holder.pid} on ${holder.host}, since ${holder.since}${ago})`;
}

/** The holder of a held lock; it writes its file just after locking, so look again for up to half a second. */
async function _holderOf(path: string): Promise<LockHolder | null> {
  for (let i = 0;; i++) {
    const holder = await readLockHolder(path);
    if (holder !== null || i === 25) return holder;
    await _sleep(20, undefined);
  }
}

/**
 * One attempt: the lock; null when another process holds it; "moved" when
 * the file locked was removed by its last holder meanwhile (try again).
 */
async function _tryLock(
  path: string,
  command: string,
  created: readonly string[],
): Promise<RunLock | null | "moved"> {
  const file = await Deno.open(path, {
    read: true,
    write: true,
    create: true,
    mode: 0o644,
  });
  let ok = false;
  try {
    if (!(await file.tryLock(true))) return null;
    // Locked, but maybe a file its holder removed meanwhile: then try again.
    if (!(await _samePath(file, path))) return "moved";
    const holder: LockHolder = {
      pid: Deno.pid,
      host: _hostname(),
      since: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      command,
    };
    await file.truncate(0);
    const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
    for (let n = 0; n < bytes.length;) {
      n += await file.write(bytes.subarray(n));
    }
    ok = true;
    return _held(file, path, holder, created);
  } finally {
    if (!ok) file.close();
  }
}

function _held(
  file: Deno.FsFile,
  path: string,
  holder: LockHolder,
  created: readonly string[],
): RunLock {
  let released: Promise<void> | null = null;
  const release = (): Promise<void> => {
    released ??= (async () => {
      try {
        // Removed while still locked, so no one else can be holding this file.
        if (await _samePath(file, path)) await Deno.remove(path);
      } catch { /* already gone; the lock is released below regardless */ }
      file.close();
      // Directories made for the lock alone go again, deepest first.
      for (const dir of [...new Set(created)].sort().reverse()) {
        try {
          await Deno.remove(dir);
        } catch {
          break; // not empty (snapshots, another run's lock), or gone
        }
      }
    })();
    return released;
  };
  return { path, holder, release, [Symbol.asyncDispose]: release };
}

/** Makes the lock file's directory; returns the directories that did not exist. */
async function _makeDirs(file: string): Promise<string[]> {
  const missing: string[] = [];
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      await Deno.stat(dir);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.push(dir);
    }
  }
  if (missing.length) await Deno.mkdir(missing[0], { recursive: true });
  return missing;
}

async function _samePath(file: Deno.FsFile, path: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([file.stat(), Deno.stat(path)]);
    return a.ino === b.ino && a.dev === b.dev;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function _hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown host"; // no --allow-sys=hostname
  }
}

function _duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function _sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
