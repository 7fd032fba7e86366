/**
 * Running the `btrfs` command of btrfs-progs, with errors that carry its
 * stderr and one-line fixes for a missing binary or permission.
 *
 * @module
 */

import { BtrfsError, spawnError } from "./errors.ts";

/** Output of a finished `btrfs` command. */
export interface BtrfsOutput {
  stdout: string;
  stderr: string;
}

/** Spawns `btrfs` with `args`; a missing binary or `--allow-run` becomes a clear error. */
export function spawnBtrfs(
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.ChildProcess {
  try {
    return new Deno.Command("btrfs", { ...options, args }).spawn();
  } catch (e) {
    throw spawnError(e);
  }
}

/**
 * Runs `btrfs` with `args` to completion. Throws a {@linkcode BtrfsError}
 * (code "command-failed") with btrfs's stderr when it exits non-zero.
 */
export async function runBtrfs(args: string[]): Promise<BtrfsOutput> {
  const child = spawnBtrfs(args, {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const dec = new TextDecoder();
  const result = {
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
  if (!out.success) {
    throw new BtrfsError(
      "command-failed",
      `btrfs ${args.join(" ")} ${exitText(out)}: ${errorText(result.stderr)}`,
    );
  }
  return result;
}

/** "exited N" or "was killed by SIGX" for a finished process. */
export function exitText(status: Deno.CommandStatus): string {
  return status.signal
    ? `was killed by ${status.signal}`
    : `exited with code ${status.code}`;
}

/**
 * The message of a failed btrfs command from its stderr: the ERROR lines when
 * there are any (btrfs-progs prints harmless WARNINGs for non-root users),
 * else every line but receive's "Chroot to" notice, joined with "; ".
 */
export function errorText(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) =>
    l.trim() && !l.startsWith("Chroot to ")
  );
  const errors = lines.filter((l) => l.startsWith("ERROR"));
  return (errors.length ? errors : lines).join("; ") || "(no message)";
}

/** Sends `signal` to `child`, if it is still running. */
export function killQuietly(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}
