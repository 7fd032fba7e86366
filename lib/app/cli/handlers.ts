/**
 * What each command of the table does with its parsed arguments: turn the
 * strings into typed options (bad ones are usage errors), call the command,
 * print its result. Commands load lazily, so `simulate` and `--help` start
 * without the S3 SDK or zod.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import { closest } from "../../core/spelling.ts";
import type { Output } from "../output.ts";
import { type ParsedArgs, UsageError } from "./args.ts";

/** Runs one command; returns the exit code. */
export type Handler = (args: ParsedArgs, out: Output) => Promise<number>;

/** The handler of each command that runs something (all but `help` and `version`). */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  "update": _update,
  "restore": _restore,
  "list-backups": _listBackups,
  "simulate": _simulate,
};

async function _config(args: ParsedArgs): Promise<Config> {
  const { loadConfig } = await import("../config/load.ts");
  return await loadConfig(args.required("config"));
}

/** A usage error unless the config defines the remote `id`. */
function _checkRemote(config: Config, id: string, command: string): void {
  const ids = config.remotes.map((r) => r.id);
  if (ids.includes(id)) return;
  const guess = closest(id, ids);
  throw new UsageError(
    `unknown remote ${JSON.stringify(id)}${
      guess ? ` (did you mean ${guess}?)` : ""
    }; the config defines: ${ids.join(", ")}`,
    command,
  );
}

async function _update(args: ParsedArgs, out: Output): Promise<number> {
  const config = await _config(args);
  const { update } = await import("../commands/update.ts");
  const interactive = Deno.stdin.isTerminal();
  const result = await update(config, {
    force: args.boolean("force"),
    pretend: args.boolean("pretend"),
    output: out,
    color: out.interactive && !Deno.noColor,
    confirm: () => {
      if (!interactive) {
        out.error(
          "snap2s3: not on a terminal, so nobody can confirm: run with --force to carry the plan out, or --pretend to only show it",
        );
        return Promise.resolve(false);
      }
      return Promise.resolve(globalThis.confirm("continue?"));
    },
  });
  out.log(result.summary);
  return result.ok ? 0 : 1;
}

async function _restore(args: ParsedArgs, out: Output): Promise<number> {
  const config = await _config(args);
  const remote = args.required("remote");
  _checkRemote(config, remote, "restore");
  const { restore } = await import("../commands/restore.ts");
  const pipe = args.strings("pipe-through");
  const result = await restore(config, {
    dest: args.required("dest"),
    remote,
    uuid: args.positional("uuid"),
    verify: !args.boolean("no-verify"),
    pipeThrough: pipe.length
      ? pipe.map((p) => p.split(/\s+/).filter(Boolean))
      : undefined,
    output: out,
  });
  out.log(
    `restored ${result.received.length} snapshot(s), ${result.skipped} already there` +
      (result.unverified
        ? `, ${result.unverified} without a checksum to verify`
        : ""),
  );
  return 0;
}

async function _listBackups(args: ParsedArgs, out: Output): Promise<number> {
  const config = await _config(args);
  const remote = args.required("remote");
  _checkRemote(config, remote, "list-backups");
  const { listBackups, renderBackupListing } = await import(
    "../commands/list_backups.ts"
  );
  const listing = await listBackups(config, remote);
  out.print(
    args.boolean("json")
      ? JSON.stringify(listing, null, 2)
      : renderBackupListing(listing),
  );
  return 0;
}

async function _simulate(args: ParsedArgs, out: Output): Promise<number> {
  const bad = (message: string): never => {
    throw new UsageError(message, "simulate");
  };
  const policy = args.string("policy")!;
  const timeZone = args.string("timezone")!;
  const { parsePolicy } = await import("../../core/policy/grammar.ts");
  const { Zone } = await import("../../core/zone.ts");
  try {
    parsePolicy(policy);
  } catch (e) {
    bad(`--policy: ${(e as Error).message}`);
  }
  try {
    Zone.get(timeZone);
  } catch (e) {
    bad(`--timezone: ${(e as Error).message}`);
  }
  const instant = (flag: "start" | "end"): Temporal.Instant => {
    const value = args.string(flag)!;
    try {
      return Temporal.Instant.from(value);
    } catch {
      return bad(
        `--${flag} ${
          JSON.stringify(value)
        } is not an ISO-8601 instant with offset, e.g. 2024-01-01T00:00:00-08:00`,
      );
    }
  };
  const start = instant("start");
  const end = instant("end");
  if (Temporal.Instant.compare(start, end) > 0) bad("--end is before --start");
  const everyText = args.string("every")!;
  let every: Temporal.Duration;
  try {
    every = Temporal.Duration.from(everyText);
  } catch {
    return bad(
      `--every ${
        JSON.stringify(everyText)
      } is not an ISO-8601 duration, e.g. PT6H or P1D`,
    );
  }
  if (every.sign <= 0) bad(`--every ${everyText} must be positive`);
  const { simulateCommand } = await import("../commands/simulate.ts");
  try {
    simulateCommand({
      policy,
      timeZone,
      start,
      end,
      every,
      json: args.boolean("json"),
    }, out);
  } catch (e) {
    // The schedule itself is the input: too many ticks is a bad argument.
    if (e instanceof RangeError) bad(e.message);
    throw e;
  }
  return 0;
}
