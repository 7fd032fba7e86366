/**
 * What each command of the table does with its parsed arguments: turn the
 * strings into typed options (bad ones are usage errors), call the command,
 * print its result. Commands load lazily, so `simulate` and `--help` start
 * without the S3 SDK or zod.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import { closestSpelling as closest } from "../config/suggest.ts";
import type { UpdateResult } from "../commands/update.ts";
import { modeOutput, type Output } from "../output.ts";
import { describeRetry } from "../remotes.ts";
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

/** The output shaped by --json and --quiet, stamped in the config's zone. */
function _shaped(args: ParsedArgs, base: Output, config: Config): Output {
  return modeOutput(base, {
    json: args.boolean("json"),
    quiet: args.given("quiet"),
    timeZone: config.timezone,
  });
}

async function _update(args: ParsedArgs, base: Output): Promise<number> {
  const config = await _config(args);
  const out = _shaped(args, base, config);
  const json = args.boolean("json");
  const { update } = await import("../commands/update.ts");
  const interactive = Deno.stdin.isTerminal();
  const result = await update(config, {
    force: args.boolean("force"),
    pretend: args.boolean("pretend"),
    allowMassDelete: args.boolean("allow-mass-delete"),
    verbose: args.boolean("verbose"),
    output: out,
    color: base.interactive && !json && !Deno.noColor,
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
  const code = result.ok ? 0 : 1;
  if (result.ok) out.log(result.summary);
  else out.error(result.summary);
  if (json) base.print(JSON.stringify(updateJson(result, code)));
  return code;
}

/**
 * The `update --json` object.
 *
 * @param r What the update did.
 * @param exitCode The exit code it ends with.
 * @returns Plain data for `JSON.stringify`.
 */
export function updateJson(r: UpdateResult, exitCode: number): object {
  const report = r.report;
  const planned = {
    snapshots: 0,
    renames: 0,
    uploads: 0,
    destroys: 0,
    deletes: 0,
  };
  for (const s of r.plan.sources) {
    if (s.createSnapshot) planned.snapshots++;
    planned.renames += s.renames.length;
    planned.uploads += s.uploads.length;
    planned.destroys += s.destroys.length;
    planned.deletes += s.deletes.length;
  }
  return {
    command: "update",
    ok: r.ok,
    exitCode,
    executed: r.executed,
    summary: r.summary,
    durationMs: r.durationMs,
    planned,
    created:
      report?.created.map((s) => s.path.slice(s.path.lastIndexOf("/") + 1)) ??
        [],
    renamed: report?.renamed ?? 0,
    uploaded: r.uploads,
    bytesUploaded: r.uploads.reduce((n, u) => n + u.bytes, 0),
    destroyed: report?.destroyed ?? 0,
    deleted: report?.deleted ?? 0,
    warnings: r.warnings,
    error: report?.error?.message ?? null,
  };
}

async function _restore(args: ParsedArgs, base: Output): Promise<number> {
  const config = await _config(args);
  const out = _shaped(args, base, config);
  const remote = args.required("remote");
  _checkRemote(config, remote, "restore");
  const { restore } = await import("../commands/restore.ts");
  const pipe = args.strings("pipe-through");
  const dest = args.required("dest");
  const result = await restore(config, {
    dest,
    remote,
    uuid: args.positional("uuid"),
    verify: !args.boolean("no-verify"),
    pipeThrough: pipe.length
      ? pipe.map((p) => p.split(/\s+/).filter(Boolean))
      : undefined,
    output: out,
    verbose: args.boolean("verbose"),
  });
  out.log(
    `restored ${result.received.length} snapshot(s), ${result.skipped} already there` +
      (result.unverified
        ? `, ${result.unverified} without a checksum to verify`
        : ""),
  );
  if (args.boolean("json")) {
    base.print(JSON.stringify({
      command: "restore",
      ok: true,
      exitCode: 0,
      remote,
      dest,
      durationMs: result.durationMs,
      received: result.backups,
      skipped: result.skipped,
      unverified: result.unverified,
      bytes: result.bytes,
      error: null,
    }));
  }
  return 0;
}

async function _listBackups(args: ParsedArgs, base: Output): Promise<number> {
  const config = await _config(args);
  const remote = args.required("remote");
  _checkRemote(config, remote, "list-backups");
  const { listBackups, renderBackupListing } = await import(
    "../commands/list_backups.ts"
  );
  const listing = await listBackups(config, remote, {
    onRetry: args.boolean("verbose")
      ? (id, info) => base.error(describeRetry(id, info))
      : undefined,
  });
  base.print(
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
