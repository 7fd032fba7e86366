/**
 * The remote from flags instead of a config, for the day the machine (and
 * its config) is gone: `--s3 BUCKET[/PREFIX]` with `--endpoint`, `--region`,
 * `--profile`, or `--local DIR`, and `--timezone` for showing times. The
 * result is an ordinary config with that one remote and no sources, so the
 * commands treat every source in the remote as theirs.
 *
 * @module
 */

import { resolve } from "node:path";
import type { ConfigInput } from "../../core/config_types.ts";
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
