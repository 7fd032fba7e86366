/**
 * The snap2s3 command line: `update`, `restore`, `list-backups`, `simulate`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { consoleOutput } from "./lib/app/output.ts";
import { permissionHint } from "./lib/app/permission_hint.ts";

const _USAGE =
  `snap2s3: btrfs snapshots, backed up to S3 as a tree of full and differential sends

usage:
  snap2s3 update <config> [--pretend] [--force]
  snap2s3 restore <config> <dest> <remote> [uuid] [--no-verify] [--pipe-through "cmd args"]...
  snap2s3 list-backups <config> <remote> [--json]
  snap2s3 simulate --policy P --timezone TZ --start ISO --end ISO --every DURATION [--json]

<config> is a TypeScript policy file (export default defineConfig({...})) or
a btrfs2s3 YAML config.

exit codes: 0 done (or nothing to do); 1 failed, or refused (not confirmed,
or no --force without a terminal); 2 bad arguments or bad config.`;

/** A usage error: exit code 2. */
class _UsageError extends Error {}

/**
 * Runs the snap2s3 command line.
 *
 * @param args Command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  const out = consoleOutput();
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "update":
        return await _update(rest);
      case "restore":
        return await _restore(rest);
      case "list-backups":
        return await _listBackups(rest);
      case "simulate": {
        const { simulateCommand } = await import(
          "./lib/app/commands/simulate.ts"
        );
        return await simulateCommand(rest);
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out.print(_USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new _UsageError(
          `unknown command ${JSON.stringify(command)}; see snap2s3 --help`,
        );
    }
  } catch (e) {
    const hint = permissionHint(e);
    if (hint) {
      out.error(`snap2s3: ${hint}`);
      return 2;
    }
    if (
      e instanceof _UsageError ||
      (e instanceof Error && e.name === "ConfigError")
    ) {
      out.error(`snap2s3: ${e.message}`);
      return 2;
    }
    if (
      e instanceof TypeError && "code" in e &&
      String(e.code).startsWith("ERR_PARSE_ARGS")
    ) {
      out.error(`snap2s3: ${e.message}; see snap2s3 --help`);
      return 2;
    }
    out.error(`snap2s3: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

function _parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals: string[],
) {
  const parsed = parseArgs({
    args,
    options,
    allowPositionals: true,
    strict: true,
  });
  const min = positionals.filter((p) => !p.endsWith("?")).length;
  if (
    parsed.positionals.length < min ||
    parsed.positionals.length > positionals.length
  ) {
    throw new _UsageError(
      `expected arguments: ${
        positionals.map((p) => `<${p}>`).join(" ")
      }; see snap2s3 --help`,
    );
  }
  return parsed;
}

async function _update(args: string[]): Promise<number> {
  const { values, positionals } = _parse(args, {
    pretend: { type: "boolean", default: false },
    force: { type: "boolean", default: false },
  }, ["config"]);
  const out = consoleOutput();
  const { loadConfig } = await import("./lib/app/config/load.ts");
  const { update } = await import("./lib/app/commands/update.ts");
  const config = await loadConfig(positionals[0]);
  const interactive = Deno.stdin.isTerminal();
  const result = await update(config, {
    force: Boolean(values.force),
    pretend: Boolean(values.pretend),
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

async function _restore(args: string[]): Promise<number> {
  const { values, positionals } = _parse(args, {
    "no-verify": { type: "boolean", default: false },
    "pipe-through": { type: "string", multiple: true },
  }, ["config", "dest", "remote", "uuid?"]);
  const out = consoleOutput();
  const { loadConfig } = await import("./lib/app/config/load.ts");
  const { restore } = await import("./lib/app/commands/restore.ts");
  const config = await loadConfig(positionals[0]);
  const pipe = values["pipe-through"] as string[] | undefined;
  const result = await restore(config, {
    dest: positionals[1],
    remote: positionals[2],
    uuid: positionals[3],
    verify: !values["no-verify"],
    pipeThrough: pipe?.map((p) => p.split(/\s+/).filter(Boolean)),
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

async function _listBackups(args: string[]): Promise<number> {
  const { values, positionals } = _parse(args, {
    json: { type: "boolean", default: false },
  }, ["config", "remote"]);
  const out = consoleOutput();
  const { loadConfig } = await import("./lib/app/config/load.ts");
  const { listBackups, renderBackupListing } = await import(
    "./lib/app/commands/list_backups.ts"
  );
  const listing = await listBackups(
    await loadConfig(positionals[0]),
    positionals[1],
  );
  out.print(
    values.json
      ? JSON.stringify(listing, null, 2)
      : renderBackupListing(listing),
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
