/**
 * The snap2s3 command line. The commands, their arguments and flags are one
 * table (`lib/app/cli/commands_table.ts`); this reads the command line
 * against it, runs the command and turns errors into exit codes.
 *
 * @module
 */

import { parseCommandLine, UsageError } from "./lib/app/cli/args.ts";
import { HANDLERS } from "./lib/app/cli/handlers.ts";
import { commandUsage, globalUsage } from "./lib/app/cli/usage.ts";
import { VERSION } from "./lib/app/cli/version.ts";
import { ConfigError } from "./lib/app/config/error.ts";
import { GuardError } from "./lib/core/plan/guards.ts";
import { consoleOutput, type Output } from "./lib/app/output.ts";
import { RetrievalPendingError } from "./lib/app/retrieval.ts";
import { permissionHint } from "./lib/app/permission_hint.ts";
import { PreflightError } from "./lib/app/preflight_error.ts";
import { RemoteError, SETTINGS_FAULTS } from "./lib/drivers/remote/errors.ts";
import { UnmarkedRemoteError } from "./lib/drivers/remote/errors.ts";
import { LockHeldError } from "./lib/app/lock.ts";
import { InterruptedError } from "./lib/app/interrupt.ts";

/**
 * Runs the snap2s3 command line.
 *
 * @param args Command-line arguments, without the program name.
 * @param out Where lines go (default: stdout and stderr).
 * @returns The process exit code: 0 done, 1 failed, 2 bad input, 75 locked
 *   by another run, 130/143 interrupted by SIGINT/SIGTERM.
 */
export async function main(
  args: string[],
  out: Output = consoleOutput(),
): Promise<number> {
  let line;
  try {
    line = parseCommandLine(args);
  } catch (e) {
    const code = _exitCode(e, out);
    if (args.includes("--json")) _jsonFailure(out, args[0], code, e);
    return code;
  }
  switch (line.kind) {
    case "usage":
      out.error(globalUsage());
      return 2;
    case "version":
      out.print(`snap2s3 ${VERSION}`);
      return 0;
    case "help":
      out.print(line.command ? commandUsage(line.command) : globalUsage());
      return 0;
    case "run": {
      const name = line.args.command.name;
      try {
        const handler = HANDLERS[name];
        if (!handler) throw new Error(`internal: no handler for ${name}`);
        return await handler(line.args, out);
      } catch (e) {
        const code = _exitCode(e, out);
        if (line.args.given("json")) _jsonFailure(out, name, code, e);
        return code;
      }
    }
  }
}

/** --json promises one object on stdout, failures included. */
function _jsonFailure(
  out: Output,
  command: string | undefined,
  exitCode: number,
  e: unknown,
): void {
  out.print(JSON.stringify({
    command: command ?? null,
    ok: false,
    exitCode,
    error: e instanceof Error ? e.message : String(e),
  }));
}

/** Prints the error as one line and picks its exit code. */
function _exitCode(e: unknown, out: Output): number {
  if (e instanceof UsageError) {
    out.error(
      e.command
        ? `snap2s3 ${e.command}: ${e.message}; see snap2s3 ${e.command} --help`
        : `snap2s3: ${e.message}`,
    );
    return 2;
  }
  const hint = permissionHint(e);
  if (hint) {
    out.error(`snap2s3: ${hint}`);
    return 2;
  }
  if (
    e instanceof ConfigError || e instanceof GuardError ||
    e instanceof PreflightError ||
    e instanceof UnmarkedRemoteError
  ) {
    out.error(`snap2s3: ${e.message}`);
    return 2;
  }
  if (e instanceof RetrievalPendingError) {
    out.error(`snap2s3: ${e.message}`);
    return 75;
  }
  if (e instanceof LockHeldError) {
    out.error(`snap2s3: ${e.message}`);
    return 75;
  }
  if (e instanceof InterruptedError) {
    out.error(`snap2s3: ${e.message}`);
    return e.exitCode;
  }
  out.error(`snap2s3: ${e instanceof Error ? e.message : String(e)}`);
  return _settingsFault(e) ? 2 : 1;
}

/** A remote refusing its settings (no such bucket, a wrong key) is bad input. */
function _settingsFault(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; depth++) {
    if (
      cur instanceof RemoteError && !cur.transient &&
      SETTINGS_FAULTS.has(cur.code)
    ) return true;
    cur = cur.cause;
  }
  return false;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
