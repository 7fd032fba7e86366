/**
 * Pipe stages run each in a process group of their own, so that stopping a
 * stage stops everything it started: `sh -c "a | b"` leaves neither `a` nor
 * `b` behind. Groups still running are tracked, so a process that must exit
 * at once can kill them all first. Also: whether a process id is alive.
 *
 * @module
 */

/** Process groups of stages that have not been reaped yet. */
const _live = new Set<number>();

interface _LibcKill {
  kill(pid: number, sig: number): number;
  errno(): number;
}

let _libc: _LibcKill | null | undefined;
const _ESRCH = 3;

const _SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9 };

/**
 * Starts `argv` as the leader of a new session and process group (Deno's
 * `detached`), with piped stdin, stdout and stderr. The group is tracked
 * until {@linkcode forgetGroup}.
 */
export function spawnGroupLeader(
  argv: readonly string[],
  env: Record<string, string> | undefined,
): Deno.ChildProcess {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  _live.add(child.pid);
  return child;
}

/** Stops tracking the group of `child` (its leader was reaped and the group signalled). */
export function forgetGroup(child: Deno.ChildProcess): void {
  _live.delete(child.pid);
}

/**
 * Sends `signal` to every process in the group led by `child`; falls back to
 * the leader alone when neither Deno (`--allow-run` limited to named programs
 * cannot signal a group) nor libc (no `--allow-ffi`) can reach the group.
 * Errors for a group already gone are ignored.
 */
export function signalGroup(
  child: Deno.ChildProcess,
  signal: "SIGTERM" | "SIGKILL",
): void {
  if (_killGroup(child.pid, signal)) return;
  try {
    child.kill(signal);
  } catch { /* already exited */ }
}

/**
 * Kills (SIGKILL) every stage process group still running, synchronously:
 * for a process about to exit without waiting for its pipelines to stop.
 */
export function killAllStages(): void {
  for (const pgid of _live) _killGroup(pgid, "SIGKILL");
}

/** Signals group `pgid`; false only when no means to signal a group is allowed. */
function _killGroup(pgid: number, signal: "SIGTERM" | "SIGKILL"): boolean {
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) return true; // gone (ESRCH)
  }
  const libc = _ffi();
  if (libc === null) return false;
  libc.kill(-pgid, _SIGNALS[signal]);
  return true;
}

/**
 * Whether a process with id `pid` exists (a zombie counts), by kill(2) with
 * signal 0, which checks without signalling.
 *
 * @param pid A process id.
 * @returns True when it exists, or when it cannot be told (then a caller must not take it for dead).
 */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false; // ESRCH
    if (!(e instanceof Deno.errors.NotCapable)) return true; // EPERM: someone else's
  }
  const libc = _ffi();
  if (libc === null) return true;
  return libc.kill(pid, 0) === 0 || libc.errno() !== _ESRCH;
}

function _ffi(): _LibcKill | null {
  if (_libc !== undefined) return _libc;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      kill: { parameters: ["i32", "i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    }).symbols;
    _libc = {
      kill: lib.kill,
      errno: () => {
        const p = lib.__errno_location();
        return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
      },
    };
  } catch {
    _libc = null;
  }
  return _libc;
}
