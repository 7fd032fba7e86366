/**
 * The remote from flags instead of a config, for the day the machine (and
 * its config) is gone: `--s3 BUCKET[/PREFIX]` with `--endpoint`, `--region`,
 * `--profile`, or `--local DIR`, and `--timezone` for showing times. The
 * result is an ordinary config with that one remote and no sources, so the
 * commands treat every source in the remote as theirs. Also the argument
 * helpers `restore`, `verify` and `cat` share: `--pipe-through`, the
 * destination check, and which selection errors are bad input.
 *
 * @module
 */

import { resolve } from "node:path";
import { isDirectory } from "../../drivers/is_directory.ts";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { closestSpelling as closest } from "../config/suggest.ts";
import { PreflightError, type PreflightProblem } from "../preflight_error.ts";
import { type ParsedArgs, UsageError } from "./args.ts";

/** A config made from flags, and the id of its one remote. */
export interface FlagsConfig {
  /** Plain config data: one remote, no sources. */
  config: ConfigInput;
  /** The remote's id (also its name in messages). */
  remote: string;
}

const _S3_ONLY = ["endpoint", "region", "profile"] as const;

/**
 * The config the remote flags describe, or null when neither `--s3` nor
 * `--local` is given (then those flags are refused: they need one).
 *
 * @param args A command's parsed arguments; the command has the remote flags.
 * @returns The config and remote id, or null.
 * @throws {UsageError} On flags that do not go together.
 */
export function configFromFlags(args: ParsedArgs): FlagsConfig | null {
  const command = args.command.name;
  const fail = (message: string): never => {
    throw new UsageError(message, command);
  };
  const s3 = args.string("s3");
  const local = args.string("local");
  const timezone = args.string("timezone");
  if (s3 !== undefined && local !== undefined) {
    fail("--s3 and --local are two remotes: give one");
  }
  if (s3 === undefined) {
    for (const flag of _S3_ONLY) {
      if (args.string(flag) !== undefined) {
        fail(`--${flag} goes with --s3 BUCKET[/PREFIX]`);
      }
    }
  }
  if (s3 === undefined && local === undefined) {
    if (timezone !== undefined) {
      fail(
        "--timezone is for use without a config (with --s3 or --local); with a config its timezone is used",
      );
    }
    return null;
  }
  const timeZone = timezone ?? "UTC";
  if (local !== undefined) {
    if (local === "") fail("--local needs a directory");
    const path = resolve(local);
    return {
      config: {
        timezone: timeZone,
        remotes: [{ kind: "local", id: path, path }],
        sources: [],
      },
      remote: path,
    };
  }
  const [bucket, ...rest] = s3!.replace(/^s3:\/\//, "").split("/");
  if (!bucket) fail(`--s3 ${JSON.stringify(s3)}: give BUCKET or BUCKET/PREFIX`);
  const prefix = rest.filter(Boolean).join("/");
  const remote = `s3://${bucket}${prefix ? `/${prefix}` : ""}`;
  return {
    config: {
      timezone: timeZone,
      remotes: [{
        kind: "s3",
        id: remote,
        bucket,
        ...(prefix ? { prefix: `${prefix}/` } : {}),
        ...(args.string("endpoint") === undefined
          ? {}
          : { endpoint: args.string("endpoint") }),
        ...(args.string("region") === undefined
          ? {}
          : { region: args.string("region") }),
        ...(args.string("profile") === undefined
          ? {}
          : { profile: args.string("profile") }),
      }],
      sources: [],
    },
    remote,
  };
}

/** The config named by `<config>`. */
export async function loadConfigArg(args: ParsedArgs): Promise<Config> {
  const { loadConfig } = await import("../config/load.ts");
  return await loadConfig(args.required("config"));
}

/** A usage error unless the config defines the remote `id`. */
export function checkRemoteArg(
  config: Config,
  id: string,
  command: string,
): void {
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

/** The config and remote: from `<config> <remote>`, or from the remote flags without a config. */
export async function configAndRemote(
  args: ParsedArgs,
): Promise<{ config: Config; remote: string }> {
  const command = args.command.name;
  const flags = configFromFlags(args);
  if (flags === null) {
    const config = await loadConfigArg(args);
    const remote = args.required("remote");
    checkRemoteArg(config, remote, command);
    await checkLocalRemotes(config, [remote]);
    return { config, remote };
  }
  const { validateConfig } = await import("../config/validate.ts");
  const { ConfigError } = await import("../config/error.ts");
  let config: Config;
  try {
    config = validateConfig(flags.config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // The problems are in fields the flags filled: name the flags.
    throw new UsageError(
      e.problems.map((p) => {
        const field = String(p.path.at(-1) ?? "");
        const flag = _FLAG_OF_FIELD[field] ?? field;
        return `${flag}: ${p.message}`;
      }).join("; "),
      command,
    );
  }
  const dir = args.string("local");
  if (dir !== undefined && !(await isDirectory(resolve(dir)))) {
    throw new UsageError(
      `--local ${
        resolve(dir)
      }: the directory does not exist or is not a directory (is the disk mounted?)`,
      command,
    );
  }
  return { config, remote: flags.remote };
}

/**
 * Bad input (exit 2) when a local remote's directory is not there, as
 * `update`'s preflight says it: a missing disk is not a failed read.
 *
 * @param config The config.
 * @param ids The remotes the command reads.
 * @throws {PreflightError} Naming each missing directory and its field.
 */
export async function checkLocalRemotes(
  config: Config,
  ids: readonly string[],
): Promise<void> {
  const problems: PreflightProblem[] = [];
  for (const [i, r] of config.remotes.entries()) {
    if (r.kind !== "local" || !ids.includes(r.id)) continue;
    if (await isDirectory(r.path)) continue;
    problems.push({
      kind: "remote",
      message:
        `remote ${r.id}: directory ${r.path} does not exist or is not a directory: create it (is the disk mounted?) or fix remotes[${i}].path`,
    });
  }
  if (problems.length) throw new PreflightError(problems);
}

const _FLAG_OF_FIELD: Record<string, string> = {
  bucket: "--s3",
  prefix: "--s3",
  endpoint: "--endpoint",
  region: "--region",
  profile: "--profile",
  path: "--local",
  timezone: "--timezone",
};

/** `--pipe-through` values, each one command line split as a shell would. */
export async function pipeThroughArg(
  args: ParsedArgs,
): Promise<string[][] | undefined> {
  const values = args.strings("pipe-through");
  if (values.length === 0) return undefined;
  const { splitShellWords } = await import("../../core/shell_words.ts");
  return values.map((v) => {
    let words: string[];
    try {
      words = splitShellWords(v);
    } catch (e) {
      throw new UsageError(
        `--pipe-through: ${(e as Error).message}`,
        args.command.name,
      );
    }
    if (words.length === 0) {
      throw new UsageError(
        '--pipe-through needs a command, e.g. --pipe-through "zstd -d"',
        args.command.name,
      );
    }
    return words;
  });
}

/**
 * A restore target (`uuid`, optional) and its destination, checked before
 * anything is listed: a malformed uuid or a bad destination is exit 2.
 */
export async function checkRestoreArgs(
  uuid: string | undefined,
  dest: string,
  command: string,
): Promise<void> {
  const { parseRestoreTarget } = await import(
    "../../core/restore_selection.ts"
  );
  await selectionUsage(
    command,
    () => Promise.resolve().then(() => parseRestoreTarget(uuid)),
  );
  await checkDestArg(dest, command);
}

/** A bad destination is bad input (exit 2), found before anything is listed. */
export async function checkDestArg(
  dest: string,
  command: string,
): Promise<void> {
  const { BtrfsError, checkReceiveDir } = await import(
    "../../drivers/btrfs/driver.ts"
  );
  try {
    await checkReceiveDir(dest);
  } catch (e) {
    if (e instanceof BtrfsError) throw new UsageError(e.message, command);
    throw e;
  }
}

/** Selection errors the user fixes (a bad or ambiguous uuid, same-named sources) are exit 2. */
export async function selectionUsage<T>(
  command: string,
  fn: () => Promise<T>,
): Promise<T> {
  const { SelectionError } = await import("../../core/restore_selection.ts");
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SelectionError && e.kind !== "not-found") {
      throw new UsageError(e.message, command);
    }
    throw e;
  }
}
