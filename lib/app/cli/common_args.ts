/**
 * Positionals and flags that several commands of the table share, so each is
 * worded once.
 *
 * @module
 */

import type {
  FlagSpec,
  PositionalForm,
  PositionalSpec,
} from "./command_spec.ts";

export const CONFIG_ARG: PositionalSpec = {
  name: "config",
  help:
    "a TypeScript policy file (export default defineConfig({...})) or a btrfs2s3 YAML config",
};

export const DEST_ARG: PositionalSpec = {
  name: "dest",
  help: "a directory on a btrfs filesystem to receive into",
};

export const REMOTE_ARG: PositionalSpec = {
  name: "remote",
  help: "the id of the remote in the config",
};

export const TARGET_ARG: PositionalSpec = {
  name: "uuid",
  optional: true,
  help:
    "a snapshot uuid (it and its chain), a source uuid (all of that source), a unique prefix of 8+ hex digits of either, or latest (each source's newest restorable snapshot and its chain); default: every backup",
};

export const BACKUP_ARG: PositionalSpec = {
  name: "uuid",
  help:
    "the backup: its snapshot uuid (or a unique prefix of 8+ hex digits), or its key",
};

export const IDENTITY_FLAG: FlagSpec = {
  name: "identity",
  kind: "strings",
  value: "FILE",
  help:
    "age identity (private key) file to decrypt with (repeat for several); gpg decrypts through its agent",
};

export const NO_VERIFY_FLAG: FlagSpec = {
  name: "no-verify",
  kind: "boolean",
  help: "skip the SHA-256 check against the manifest",
};

export const PIPE_THROUGH_FLAG: FlagSpec = {
  name: "pipe-through",
  kind: "strings",
  value: '"CMD ARGS"',
  help:
    'a command that undoes a btrfs2s3 pipe_through, quoted as in a shell, e.g. "zstd -d" (one command per flag, in the order to run them); used instead of the key suffixes',
};

/** Archived (GLACIER, DEEP_ARCHIVE) backups: how to retrieve them. */
export const RETRIEVAL_FLAGS: readonly FlagSpec[] = [
  {
    name: "tier",
    kind: "string",
    value: "TIER",
    help:
      "retrieval tier of archived backups: Standard (default; GLACIER 3-5 h), Bulk (cheaper, slower) or Expedited (GLACIER only, minutes)",
  },
  {
    name: "days",
    kind: "string",
    value: "N",
    help: "days retrieved copies of archived backups stay readable (default 7)",
  },
  {
    name: "wait",
    kind: "boolean",
    help:
      "wait for archived backups to be retrieved (polling at growing intervals) instead of exiting 75 after asking for them",
  },
];

/** Without a config: where the remote is, and how to show times. */
export const REMOTE_FLAGS: readonly FlagSpec[] = [
  {
    name: "s3",
    kind: "string",
    value: "BUCKET[/PREFIX]",
    help:
      "without a config: the S3 bucket (and key prefix) to read; credentials from the usual AWS chain (environment, --profile, instance role)",
  },
  {
    name: "endpoint",
    kind: "string",
    value: "URL",
    help: "with --s3: an S3-compatible endpoint, e.g. https://s3.example.com",
  },
  {
    name: "region",
    kind: "string",
    value: "REGION",
    help: "with --s3: the bucket's region, e.g. eu-west-1",
  },
  {
    name: "profile",
    kind: "string",
    value: "NAME",
    help: "with --s3: a profile of ~/.aws/config and ~/.aws/credentials",
  },
  {
    name: "local",
    kind: "string",
    value: "DIR",
    help: "without a config: a local directory of backup objects",
  },
  {
    name: "timezone",
    kind: "string",
    value: "TZ",
    help:
      "without a config: the IANA time zone times are shown in (default UTC)",
  },
];

/** `--s3 BUCKET ...` and `--local DIR ...` in place of `<config> <remote>`. */
export function configlessForms(
  positionals: readonly PositionalSpec[],
): PositionalForm[] {
  return [
    {
      when: ["s3"],
      positionals,
      flags: ["endpoint", "region", "profile", "timezone"],
    },
    { when: ["local"], positionals, flags: ["timezone"] },
  ];
}

/** `-h`, `--help`: every command has it. */
export const HELP_FLAG: FlagSpec = {
  name: "help",
  short: "h",
  kind: "boolean",
  help: "show this help and exit",
};

/** `--json`: one JSON object on stdout, human lines on stderr. */
export const JSON_FLAG: FlagSpec = {
  name: "json",
  kind: "boolean",
  help:
    "print one JSON object on stdout (what was done, counts, bytes, durations, errors); human lines go to stderr",
};

/** `-q`, `--quiet`: for cron. */
export const QUIET_FLAG: FlagSpec = {
  name: "quiet",
  short: "q",
  kind: "boolean",
  help: "print nothing on success (warnings and errors still go to stderr)",
};

/** `--bwlimit RATE`: over every S3 remote's `bandwidth`. */
export const BWLIMIT_FLAG: FlagSpec = {
  name: "bwlimit",
  kind: "string",
  value: "RATE",
  help:
    "limit each S3 remote's uploads and downloads to RATE each, e.g. 20MiB/s or 100Mbit/s (over the config's bandwidth)",
};

/** `--wait-lock[=SECONDS]`: wait for another run instead of exiting 75. */
export const WAIT_LOCK_FLAG: FlagSpec = {
  name: "wait-lock",
  kind: "optional",
  value: "SECONDS",
  help:
    "when another run holds the lock, wait for it (at most SECONDS, or as long as it takes) instead of exiting 75",
};

/** `-v`, `--verbose`: keys and retries. */
export const VERBOSE_FLAG: FlagSpec = {
  name: "verbose",
  short: "v",
  kind: "boolean",
  help:
    "name backups by their full key and snapshots by path; a line per retried request with its reason",
};
