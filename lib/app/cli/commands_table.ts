/**
 * The one table of commands, their arguments and flags. The parser
 * (`args.ts`) and every usage text (`usage.ts`) are made from it, so a flag
 * exists, parses and is documented in one place.
 *
 * @module
 */

/** A flag of a command. */
export interface FlagSpec {
  /** The long name, without dashes: `force` for `--force`. */
  readonly name: string;
  /** A one-letter alias, without the dash. */
  readonly short?: string;
  /** `boolean`: present or not; `string`: takes one value; `strings`: takes a value each time it is given. */
  readonly kind: "boolean" | "string" | "strings";
  /** The value's placeholder in usage texts, e.g. `DURATION`. */
  readonly value?: string;
  /** The command refuses to run without it. */
  readonly required?: boolean;
  /** One line for `--help`. */
  readonly help: string;
}

/** A positional argument of a command. */
export interface PositionalSpec {
  /** The name, shown as `<name>` (or `[name]` when optional). */
  readonly name: string;
  /** May be left out (only at the end). */
  readonly optional?: boolean;
  /** One line for `--help`. */
  readonly help: string;
}

/** A command of the command line. */
export interface CommandSpec {
  /** What the user types: `list-backups`. */
  readonly name: string;
  /** One line for the global usage and the top of `--help`. */
  readonly summary: string;
  /** In order. */
  readonly positionals: readonly PositionalSpec[];
  /** Besides `--help`, which every command has. */
  readonly flags: readonly FlagSpec[];
  /** Command lines shown under "example" (without the leading `snap2s3`). */
  readonly examples: readonly string[];
}

const _CONFIG: PositionalSpec = {
  name: "config",
  help:
    "a TypeScript policy file (export default defineConfig({...})) or a btrfs2s3 YAML config",
};

/** `-h`, `--help`: every command has it. */
export const HELP_FLAG: FlagSpec = {
  name: "help",
  short: "h",
  kind: "boolean",
  help: "show this help and exit",
};

/** `--json`: one JSON object on stdout, human lines on stderr. */
const _JSON: FlagSpec = {
  name: "json",
  kind: "boolean",
  help:
    "print one JSON object on stdout (what was done, counts, bytes, durations, errors); human lines go to stderr",
};

/** `-q`, `--quiet`: for cron. */
const _QUIET: FlagSpec = {
  name: "quiet",
  short: "q",
  kind: "boolean",
  help: "print nothing on success (warnings and errors still go to stderr)",
};

/** `-v`, `--verbose`: keys and retries. */
const _VERBOSE: FlagSpec = {
  name: "verbose",
  short: "v",
  kind: "boolean",
  help:
    "name backups by their full key and snapshots by path; a line per retried request with its reason",
};

/** Every command, in the order the global usage lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "update",
    summary:
      "snapshot each source that changed, plan, show the plan, confirm, and carry it out",
    positionals: [_CONFIG],
    flags: [
      {
        name: "pretend",
        kind: "boolean",
        help: "only show the plan; change nothing",
      },
      {
        name: "force",
        kind: "boolean",
        help:
          "carry the plan out without asking (needed when not on a terminal)",
      },
      {
        name: "allow-mass-delete",
        kind: "boolean",
        help:
          "carry out a plan that deletes more than half of a remote's backups or of a source's snapshots (e.g. after shortening a policy); without it such a run stops, exit 2",
      },
      _JSON,
      _QUIET,
      _VERBOSE,
    ],
    examples: [
      "update /etc/snap2s3/policy.ts --pretend",
      "update /etc/snap2s3/policy.ts --force",
      "update /etc/snap2s3/policy.ts --force --quiet   # for cron: mail only on trouble",
      "update /etc/snap2s3/policy.ts --force --json > last-run.json",
    ],
  },
  {
    name: "restore",
    summary:
      "receive backups (every one of the config's sources, or one snapshot and its chain) into a btrfs directory",
    positionals: [
      _CONFIG,
      {
        name: "dest",
        help: "a directory on a btrfs filesystem to receive into",
      },
      { name: "remote", help: "the id of the remote to restore from" },
      {
        name: "uuid",
        optional: true,
        help: "restore only this snapshot (and the backups it depends on)",
      },
    ],
    flags: [
      {
        name: "no-verify",
        kind: "boolean",
        help: "skip the SHA-256 check of each backup",
      },
      {
        name: "pipe-through",
        kind: "strings",
        value: '"CMD ARGS"',
        help:
          'undo a btrfs2s3 pipe_through instead of the key suffixes, e.g. "zstd -d" (repeat for several)',
      },
      _JSON,
      _QUIET,
      _VERBOSE,
    ],
    examples: [
      "restore /etc/snap2s3/policy.ts /mnt/restore usb",
      'restore config.yaml /mnt/restore aws --pipe-through "zstd -d"',
    ],
  },
  {
    name: "list-backups",
    summary:
      "the backup tree in one remote, per source: time, full or differential, size, storage class",
    positionals: [_CONFIG, {
      name: "remote",
      help: "the id of the remote to list",
    }],
    flags: [
      {
        name: "json",
        kind: "boolean",
        help: "print the listing as one JSON object",
      },
      _VERBOSE,
    ],
    examples: ["list-backups /etc/snap2s3/policy.ts usb"],
  },
  {
    name: "simulate",
    summary:
      "what-if: replay a policy, one snapshot and one update per tick, and show the final tree",
    positionals: [],
    flags: [
      {
        name: "policy",
        kind: "string",
        value: "POLICY",
        required: true,
        help:
          'preservation policy, e.g. "1y 3m 30d 24h" ("" keeps only the most recent)',
      },
      {
        name: "timezone",
        kind: "string",
        value: "TZ",
        required: true,
        help: "IANA time zone, e.g. America/Los_Angeles or UTC",
      },
      {
        name: "start",
        kind: "string",
        value: "ISO",
        required: true,
        help:
          "first run, an ISO-8601 instant with offset, e.g. 2024-01-01T00:00:00-08:00",
      },
      {
        name: "end",
        kind: "string",
        value: "ISO",
        required: true,
        help: "last run (inclusive), same form",
      },
      {
        name: "every",
        kind: "string",
        value: "DURATION",
        required: true,
        help:
          "ISO-8601 duration between runs on the wall clock, e.g. PT6H, P1D",
      },
      {
        name: "json",
        kind: "boolean",
        help: 'print {"snapshots": [...], "backups": [{"ctime", "parent"}]}',
      },
    ],
    examples: [
      'simulate --policy "1y 3m 30d 24h" --timezone UTC --start 2024-01-01T00:00:00Z --end 2024-06-01T00:00:00Z --every PT6H',
    ],
  },
  {
    name: "help",
    summary: "show the usage, or one command's flags and an example",
    positionals: [{ name: "command", optional: true, help: "a command" }],
    flags: [],
    examples: ["help update"],
  },
  {
    name: "version",
    summary: "print the version",
    positionals: [],
    flags: [],
    examples: ["version"],
  },
];

/** The exit codes, as every `--help` lists them. */
export const EXIT_CODES: readonly [code: string, meaning: string][] = [
  ["0", "done, or nothing to do"],
  ["1", "failed, or refused (not confirmed, or no --force without a terminal)"],
  [
    "2",
    "bad input: arguments, config, unknown remote, missing permission; or stopped by a guard (clock behind the newest snapshot, mass deletion without --allow-mass-delete)",
  ],
  ["75", "try again later: another run holds the lock"],
  ["130/143", "interrupted by SIGINT/SIGTERM"],
];
