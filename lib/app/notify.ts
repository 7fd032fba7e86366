/**
 * The config's `notify` hooks: a URL is POSTed the run's JSON summary
 * (healthchecks.io-style `/start` and `/fail` pings work), a command gets it
 * on stdin. A hook that fails is logged and never fails the backup.
 *
 * @module
 */

import type { Notify, NotifyTarget } from "../core/config_types.ts";
import { permissionHint } from "./permission_hint.ts";

/** When a hook is told: the run starts, or it ended well or badly. */
export type NotifyEvent = keyof Notify;

/** How long a hook may take before it is given up on (ms). */
export const HOOK_TIMEOUT_MS = 10_000;

/**
 * Tells the hook of `event`, if the config has one. Never throws: a failure
 * is handed to `warn` as one line naming the hook and what to fix.
 *
 * @param notify The config's hooks.
 * @param event Which hook.
 * @param summary The JSON summary sent.
 * @param warn Told one line when the hook fails.
 * @returns True when there was no hook or it succeeded.
 */
export async function notifyHook(
  notify: Notify | undefined,
  event: NotifyEvent,
  summary: unknown,
  warn: (line: string) => void,
): Promise<boolean> {
  const target = notify?.[event];
  if (target === undefined) return true;
  try {
    await runHook(target, event, JSON.stringify(summary));
    return true;
  } catch (e) {
    warn(`notify.${event}: ${(e as Error).message}`);
    return false;
  }
}

/**
 * Runs one hook: POSTs `body` to a URL (any 2xx is success), or runs a
 * command with `body` on stdin and `SNAP2S3_EVENT` set (exit 0 is success).
 * Its stdout is discarded, so `--json` output stays one object.
 *
 * @param target A URL or an argv.
 * @param event Put in `SNAP2S3_EVENT` for a command.
 * @param body The JSON text.
 * @param timeoutMs Given up on after this long.
 * @throws {Error} One line: what failed and how to fix it.
 */
export async function runHook(
  target: NotifyTarget,
  event: NotifyEvent,
  body: string,
  timeoutMs: number = HOOK_TIMEOUT_MS,
): Promise<void> {
  if (typeof target === "string") await _post(target, body, timeoutMs);
  else await _command(target, event, body, timeoutMs);
}

async function _post(url: string, body: string, timeoutMs: number) {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "snap2s3" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const hint = permissionHint(e);
    if (hint) throw new Error(`POST ${_redact(url)}: ${hint}`);
    if ((e as Error).name === "TimeoutError") {
      throw new Error(
        `POST ${_redact(url)}: no answer within ${timeoutMs / 1000} s`,
      );
    }
    throw new Error(`POST ${_redact(url)} failed: ${(e as Error).message}`);
  }
  await response.body?.cancel();
  if (!response.ok) {
    throw new Error(
      `POST ${_redact(url)} answered ${response.status} ${response.statusText}`,
    );
  }
}

async function _command(
  argv: string[],
  event: NotifyEvent,
  body: string,
  timeoutMs: number,
) {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      env: { SNAP2S3_EVENT: event },
    }).spawn();
  } catch (e) {
    const hint = permissionHint(e);
    if (hint) throw new Error(`${argv[0]}: ${hint}`);
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${argv[0]} not found: give the program's full path`);
    }
    throw e;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }, timeoutMs);
  try {
    const writer = child.stdin.getWriter();
    // A hook that does not read its stdin is fine: only its exit status counts.
    await writer.write(new TextEncoder().encode(body)).catch(() => {});
    await writer.close().catch(() => {});
    const out = await child.output();
    if (out.signal === "SIGTERM") {
      throw new Error(
        `${argv[0]} did not finish within ${timeoutMs / 1000} s`,
      );
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n")
        .at(-1);
      throw new Error(
        `${argv[0]} exited ${out.code}${err ? `: ${err.slice(0, 200)}` : ""}`,
      );
    }
  } finally {
    clearTimeout(timer);
  }
}

/** A URL for a log line: no user info, no query (both may hold secrets). */
function _redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = u.search ? "?..." : "";
    return u.toString();
  } catch {
    return "(bad URL)";
  }
}
