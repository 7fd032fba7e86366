/**
 * What each command of the table does with its parsed arguments: turn the
 * strings into typed options (bad ones are usage errors), call the command,
 * print its result. Commands load lazily, so `simulate` and `--help` start
 * without the S3 SDK or zod.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import type { UpdateResult } from "../commands/update.ts";
import { modeOutput, type Output } from "../output.ts";
import { describeRetry } from "../remotes.ts";
import type { RestoreResult } from "../commands/restore.ts";
import { retrievalArgs } from "./_retrieval_args.ts";
import { simulateHandler } from "./simulate_handler.ts";
import { type ParsedArgs, UsageError } from "./args.ts";
import {
  checkLocalRemotes,
  checkRestoreArgs,
  configAndRemote,
  loadConfigArg,
  pipeThroughArg,
  selectionUsage,
} from "./remote_args.ts";
import { InterruptedError, interruptScope } from "../interrupt.ts";

/** Runs one command; returns the exit code. */
export type Handler = (args: ParsedArgs, out: Output) => Promise<number>;

/** The handler of each command that runs something (all but `help` and `version`). */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  "update": _update,
  "restore": _restore,
  "list-backups": _listBackups,
  "verify": _verify,
  "cat": _cat,
  "status": _status,
  "init": _init,
  "daemon": _daemon,
  "simulate": simulateHandler,
};

/** The output shaped by --json and --quiet, stamped in the config's zone. */
function _shaped(args: ParsedArgs, base: Output, config: Config): Output {
  return modeOutput(base, {
    json: args.boolean("json"),
    quiet: args.given("quiet"),
    timeZone: config.timezone,
  });
}

/** `--wait-lock[=SECONDS]` as seconds: 0 when absent, Infinity when bare. */
function _waitLock(args: ParsedArgs): number {
  const v = args.optional("wait-lock");
  if (v === undefined) return 0;
  if (v === true) return Infinity;
  if (!/^\d+$/.test(v)) {
    throw new UsageError(
      `--wait-lock=${v}: give whole seconds, e.g. --wait-lock=600, or --wait-lock alone to wait as long as it takes`,
      args.command.name,
    );
  }
  return Number(v);
}

/** The run's cancellation: the first SIGINT/SIGTERM stops it cleanly, a second exits at once. */
function _interrupts(out: Output) {
  return interruptScope({
    onInterrupt: (sig) =>
      out.error(
        `snap2s3: ${sig}: stopping, undoing the step in progress (a second ${sig} exits at once)`,
      ),
  });
}

async function _update(args: ParsedArgs, base: Output): Promise<number> {
  const bandwidth = await _bwlimit(args, "update");
  const config = await loadConfigArg(args);
  const out = _shaped(args, base, config);
  const json = args.boolean("json");
  const waitLock = _waitLock(args);
  const { monitoredUpdate } = await import("../commands/monitored_update.ts");
  const interactive = Deno.stdin.isTerminal();
  using interrupts = _interrupts(out);
  const result = await monitoredUpdate(config, {
    force: args.boolean("force"),
    pretend: args.boolean("pretend"),
    allowMassDelete: args.boolean("allow-mass-delete"),
    verbose: args.boolean("verbose"),
    bandwidth,
    initRemote: args.boolean("init-remote"),
    waitLock,
    signal: interrupts.signal,
    output: out,
    color: base.interactive && !json && !Deno.noColor,
    confirm: () => {
      if (!interactive) {
        out.error(
          "snap2s3: not on a terminal, so nobody can confirm: run with --force to carry the plan out, or --pretend to only show it",
        );
        return Promise.resolve(false);
      }
      // The prompt blocks: Ctrl-C there must end the process as it always does.
      return Promise.resolve(
        interrupts.paused(() => globalThis.confirm("continue?")),
      );
    },
  });
  const stopped = result.report?.error;
  const code = result.ok
    ? 0
    : stopped instanceof InterruptedError
    ? stopped.exitCode
    : 1;
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
    retained: report?.retained ?? 0,
    failedUploads: report?.failed.map((f) => ({
      remote: f.remoteId,
      key: f.key,
      error: f.error.message,
    })) ?? [],
    skippedUploads: report?.skipped ?? [],
    destroysSkipped: report?.destroysSkipped ?? 0,
    deletesSkipped: report?.deletesSkipped ?? 0,
    warnings: r.warnings,
    error: report?.error?.message ?? null,
  };
}

async function _restore(args: ParsedArgs, base: Output): Promise<number> {
  const bandwidth = await _bwlimit(args, "restore");
  const { config, remote } = await configAndRemote(args);
  const out = _shaped(args, base, config);
  const json = args.boolean("json");
  const dest = args.required("dest");
  const waitLock = _waitLock(args);
  const uuid = args.positional("uuid");
  await checkRestoreArgs(uuid, dest, "restore");
  const { restore, RestoreError } = await import("../commands/restore.ts");
  const pipeThrough = await pipeThroughArg(args);
  const report = (r: RestoreResult, code: number, error: unknown) => {
    const line = [
      `restored ${r.received.length} snapshot(s), ${r.skipped} already there` +
      (r.unverified
        ? `, ${r.unverified} not checksum-verified (no manifest)`
        : ""),
      r.broken.length ? `${r.broken.length} broken chain(s)` : "",
      r.unmatched.length
        ? `${r.unmatched.length} source(s) without backups`
        : "",
      r.failed.length ? `${r.failed.length} failed` : "",
    ].filter(Boolean).join("; ");
    if (code === 0) out.log(line);
    else out.error(line);
    if (json) {
      base.print(JSON.stringify({
        command: "restore",
        ok: code === 0,
        exitCode: code,
        remote,
        dest,
        durationMs: r.durationMs,
        sources: r.sources,
        received: r.backups,
        skipped: r.skipped,
        unverified: r.unverified,
        bytes: r.bytes,
        broken: r.broken,
        unmatched: r.unmatched,
        failed: r.failed,
        error: error === null
          ? null
          : error instanceof Error
          ? error.message
          : String(error),
      }));
    }
    return code;
  };
  using interrupts = _interrupts(out);
  let result: RestoreResult;
  try {
    result = await selectionUsage("restore", () =>
      restore(config, {
        waitLock,
        signal: interrupts.signal,
        dest,
        remote,
        uuid,
        source: args.string("source"),
        verify: !args.boolean("no-verify"),
        pipeThrough,
        identities: args.strings("identity"),
        output: out,
        verbose: args.boolean("verbose"),
        bandwidth,
        retrieval: retrievalArgs(args, "restore"),
      }));
  } catch (e) {
    if (!(e instanceof RestoreError)) throw e;
    out.error(`snap2s3: ${e.message}`);
    return report(e.result, 1, e);
  }
  return report(result, result.ok ? 0 : 1, null);
}

async function _listBackups(args: ParsedArgs, base: Output): Promise<number> {
  const { config, remote } = await configAndRemote(args);
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

async function _verify(args: ParsedArgs, base: Output): Promise<number> {
  const { config, remote } = await configAndRemote(args);
  const out = modeOutput(base, { timeZone: config.timezone });
  const bad = (message: string): never => {
    throw new UsageError(message, "verify");
  };
  const drillDir = args.string("drill");
  const sample = args.string("sample");
  const since = args.string("since");
  const chosen = [
    args.boolean("all") ? "--all" : "",
    sample === undefined ? "" : "--sample",
    since === undefined ? "" : "--since",
    drillDir === undefined ? "" : "--drill",
  ].filter(Boolean);
  if (chosen.length > 1) bad(`${chosen.join(" and ")}: give one`);
  if (drillDir === undefined) {
    for (const flag of ["uuid", "source"]) {
      if (args.string(flag) !== undefined) {
        bad(`--${flag} goes with --drill DIR`);
      }
    }
  }
  const undo = {
    pipeThrough: await pipeThroughArg(args),
    identities: args.strings("identity"),
  };
  if (drillDir !== undefined) {
    if (args.boolean("json")) bad("--json does not go with --drill");
    const uuid = args.string("uuid");
    await checkRestoreArgs(uuid, drillDir, "verify");
    const { drill } = await import("../commands/drill.ts");
    const r = await selectionUsage("verify", () =>
      drill(config, {
        remote,
        dir: drillDir,
        uuid,
        source: args.string("source"),
        ...undo,
        output: out,
      }));
    return r.ok ? 0 : 1;
  }
  let sampleN: number | undefined;
  if (sample !== undefined) {
    sampleN = Number(sample);
    if (!Number.isSafeInteger(sampleN) || sampleN < 1) {
      bad(
        `--sample ${
          JSON.stringify(sample)
        } must be a whole number of backups, at least 1`,
      );
    }
  }
  let sinceInstant: Temporal.Instant | undefined;
  if (since !== undefined) {
    try {
      sinceInstant = /^\d{4}-\d{2}-\d{2}$/.test(since)
        ? Temporal.PlainDate.from(since).toZonedDateTime({
          timeZone: config.timezone,
        }).toInstant()
        : Temporal.Instant.from(since);
    } catch {
      bad(
        `--since ${
          JSON.stringify(since)
        } is not a date (2024-05-01) or an ISO-8601 instant with offset`,
      );
    }
  }
  const { verify, summarizeVerify } = await import("../commands/verify.ts");
  const json = args.boolean("json");
  const { memoryOutput } = await import("../output.ts");
  const result = await verify(config, {
    remote,
    sample: sampleN,
    since: sinceInstant,
    ...undo,
    output: json ? memoryOutput() : out,
    retrieval: retrievalArgs(args, "verify"),
  });
  if (json) out.print(JSON.stringify(result, null, 2));
  else out.log(summarizeVerify(result));
  return result.ok ? 0 : 1;
}

async function _cat(args: ParsedArgs, out: Output): Promise<number> {
  const { config, remote } = await configAndRemote(args);
  const { cat, catToFile } = await import("../commands/cat.ts");
  const options = {
    remote,
    uuid: args.required("uuid"),
    verify: !args.boolean("no-verify"),
    pipeThrough: await pipeThroughArg(args),
    identities: args.strings("identity"),
    // stdout carries the stream: every message goes to stderr.
    output: { ...out, print: out.error, log: out.error },
    retrieval: retrievalArgs(args, "cat"),
  };
  const file = args.string("output");
  await selectionUsage(
    "cat",
    () =>
      file === undefined || file === "-"
        ? cat(config, options, Deno.stdout.writable, { preventClose: true })
        : catToFile(config, options, file),
  );
  return 0;
}

/** A duration flag in ms; a bad one is a usage error. */
async function _duration(
  args: ParsedArgs,
  flag: string,
): Promise<number | undefined> {
  const text = args.string(flag);
  if (text === undefined) return undefined;
  const { parseDuration } = await import("../../core/duration.ts");
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(
      `--${flag}: ${(e as Error).message}`,
      args.command.name,
    );
  }
}

async function _status(args: ParsedArgs, base: Output): Promise<number> {
  const maxAgeMs = await _duration(args, "max-age");
  const config = await loadConfigArg(args);
  await checkLocalRemotes(
    config,
    config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
  );
  const { status, renderStatus } = await import("../commands/status.ts");
  const report = await status(config, { maxAgeMs });
  const code = report.fresh ? 0 : 1;
  if (args.boolean("json")) {
    base.print(
      JSON.stringify({ command: "status", exitCode: code, ...report }),
    );
  } else if (!args.boolean("quiet")) {
    base.print(renderStatus(report));
  } else if (!report.fresh) {
    // Quiet, for cron: only what is wrong, on stderr.
    for (const line of renderStatus(report).split("\n")) {
      if (!line.startsWith("fresh")) base.error(line);
    }
  }
  return code;
}

async function _daemon(args: ParsedArgs, base: Output): Promise<number> {
  const everyMs = await _duration(args, "every");
  const relistMs = await _duration(args, "relist");
  const configPath = args.required("config");
  const { loadConfig } = await import("../config/load.ts");
  // Log lines stamped in the config's zone, like update's.
  const config = await loadConfig(configPath);
  const out = modeOutput(base, { timeZone: config.timezone });
  const { runDaemon } = await import("../commands/daemon.ts");
  await runDaemon({
    configPath,
    config,
    everyMs,
    relistMs,
    output: out,
    verbose: args.boolean("verbose"),
  });
  return 0;
}

async function _init(args: ParsedArgs, out: Output): Promise<number> {
  const timezone = args.string("timezone");
  if (timezone !== undefined) {
    const { timeZoneProblem } = await import("../../core/zone.ts");
    const problem = timeZoneProblem(timezone);
    if (problem) throw new UsageError(`--timezone: ${problem}`, "init");
  }
  const { init, InitExistsError } = await import("../commands/init.ts");
  try {
    const r = await init(args.required("dir"), { timezone });
    out.print(
      `wrote ${r.policy} (time zone ${r.timezone}) and ${r.denoJson}; edit the policy, then:\n` +
        `  deno check ${r.policy}\n  snap2s3 update ${r.policy} --pretend`,
    );
    return 0;
  } catch (e) {
    if (e instanceof InitExistsError) throw new UsageError(e.message, "init");
    throw e;
  }
}

/** `--bwlimit RATE` in bytes per second; undefined when not given. */
async function _bwlimit(
  args: ParsedArgs,
  command: string,
): Promise<number | undefined> {
  const text = args.string("bwlimit");
  if (text === undefined) return undefined;
  const { parseRate, RATE_FORM } = await import("../../core/rate.ts");
  const rate = parseRate(text);
  if (rate === null) {
    throw new UsageError(
      `--bwlimit ${JSON.stringify(text)} is not ${RATE_FORM}`,
      command,
    );
  }
  return rate;
}
