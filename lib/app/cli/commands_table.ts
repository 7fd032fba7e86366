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

/** Positionals used instead of a command's own when one of `when` is given. */
export interface PositionalForm {
  /** Long flag names, without dashes. */
  readonly when: readonly string[];
  /** In order. */
  readonly positionals: readonly PositionalSpec[];
  /** Flags that belong to this form only: shown in its synopsis, not the main one. */
  readonly flags?: readonly string[];
}

/** A command of the command line. */
export interface CommandSpec {
  /** What the user types: `list-backups`. */
  readonly name: string;
  /** One line for the global usage and the top of `--help`. */
  readonly summary: string;
  /** In order. */
  readonly positionals: readonly PositionalSpec[];
  /**
   * Other positional forms, each used when one of its `when` flags is given:
   * e.g. `restore --local DIR <dest> [uuid]`, the remote from flags instead
   * of `<config>` and `<remote>`.
   */
  readonly forms?: readonly PositionalForm[];
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

const _DEST: PositionalSpec = {
  name: "dest",
  help: "a directory on a btrfs filesystem to receive into",
};

const _REMOTE: PositionalSpec = {
  name: "remote",
  help: "the id of the remote in the config",
};

const _TARGET: PositionalSpec = {
  name: "uuid",
  optional: true,
  help:
    "a snapshot uuid (it and its chain), a source uuid (all of that source), a unique prefix of 8+ hex digits of either, or latest (each source's newest restorable snapshot and its chain); default: every backup",
};

const _BACKUP: PositionalSpec = {
  name: "uuid",
  help:
    "the backup: its snapshot uuid (or a unique prefix of 8+ hex digits), or its key",
};

const _IDENTITY: FlagSpec = {
  name: "identity",
  kind: "strings",
  value: "FILE",
  help:
    "age identity (private key) file to decrypt with (repeat for several); gpg decrypts through its agent",
};

const _NO_VERIFY: FlagSpec = {
  name: "no-verify",
  kind: "boolean",
  help: "skip the SHA-256 check against the manifest",
};

const _PIPE_THROUGH: FlagSpec = {
  name: "pipe-through",
  kind: "strings",
  value: '"CMD ARGS"',
  help:
    'a command that undoes a btrfs2s3 pipe_through, quoted as in a shell, e.g. "zstd -d" (one command per flag, in the order to run them); used instead of the key suffixes',
};

/** Archived (GLACIER, DEEP_ARCHIVE) backups: how to retrieve them. */
const _RETRIEVAL: readonly FlagSpec[] = [
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
const _REMOTE_FLAGS: readonly FlagSpec[] = [
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
function _configlessForms(
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

/** `--bwlimit RATE`: over every S3 remote's `bandwidth`. */
const _BWLIMIT: FlagSpec = {
  name: "bwlimit",
  kind: "string",
  value: "RATE",
  help:
    "limit each S3 remote's uploads and downloads to RATE each, e.g. 20MiB/s or 100Mbit/s (over the config's bandwidth)",
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
      _BWLIMIT,
      {
        name: "init-remote",
        kind: "boolean",
        help:
          "use a local remote directory that has no snap2s3 marker yet although the sources have snapshots (without it such a run stops: is the disk mounted?)",
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
      "receive backups (of the config's sources, one source, or one snapshot and its chain) into a btrfs directory",
    positionals: [_CONFIG, _DEST, _REMOTE, _TARGET],
    forms: _configlessForms([_DEST, _TARGET]),
    flags: [
      {
        name: "source",
        kind: "string",
        value: "NAME|UUID",
        help:
          "restore only this source: its directory name, its path in the config, or its source uuid (8+ hex digits)",
      },
      _IDENTITY,
      _NO_VERIFY,
      _PIPE_THROUGH,
      _BWLIMIT,
      ..._RETRIEVAL,
      _JSON,
      _QUIET,
      _VERBOSE,
      ..._REMOTE_FLAGS,
    ],
    examples: [
      "restore /etc/snap2s3/policy.ts /mnt/restore usb",
      "restore /etc/snap2s3/policy.ts /mnt/restore aws latest --tier Bulk --wait",
      "restore /etc/snap2s3/policy.ts /mnt/restore usb latest --source home",
      'restore config.yaml /mnt/restore aws --pipe-through "zstd -d"',
      "restore --s3 my-bucket/laptop --region eu-west-1 /mnt/restore latest --identity /root/age.key",
      "restore --local /media/usb/backups /mnt/restore 0f3c9a2e",
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
    forms: _configlessForms([]),
    flags: [
      {
        name: "json",
        kind: "boolean",
        help: "print the listing as one JSON object",
      },
      _VERBOSE,
      ..._REMOTE_FLAGS,
    ],
    examples: [
      "list-backups /etc/snap2s3/policy.ts usb",
      "list-backups --s3 my-bucket --endpoint https://s3.example.com --timezone Europe/Berlin",
    ],
  },
  {
    name: "verify",
    summary:
      "read backups back without receiving them: SHA-256 against the manifest, stream header against the key; or --drill: a restore rehearsal",
    positionals: [_CONFIG, _REMOTE],
    forms: _configlessForms([]),
    flags: [
      {
        name: "all",
        kind: "boolean",
        help: "check every backup (the default)",
      },
      {
        name: "sample",
        kind: "string",
        value: "N",
        help: "check N backups chosen at random",
      },
      {
        name: "since",
        kind: "string",
        value: "DATE",
        help:
          "check backups of snapshots taken since DATE (2024-05-01, in the config's zone, or an ISO instant)",
      },
      {
        name: "json",
        kind: "boolean",
        help: "print the result as one JSON object",
      },
      {
        name: "drill",
        kind: "string",
        value: "DIR",
        help:
          "instead: receive each source's newest chain into a scratch directory under DIR (on btrfs), compare every file with the local snapshot, report the time and the data's age, delete the scratch snapshots",
      },
      {
        name: "uuid",
        kind: "string",
        value: "UUID",
        help:
          "with --drill: the snapshot or source uuid (8+ hex digits) to drill instead of the latest",
      },
      {
        name: "source",
        kind: "string",
        value: "NAME|UUID",
        help: "with --drill: only this source",
      },
      _IDENTITY,
      _PIPE_THROUGH,
      ..._RETRIEVAL,
      ..._REMOTE_FLAGS,
    ],
    examples: [
      "verify /etc/snap2s3/policy.ts usb",
      "verify /etc/snap2s3/policy.ts aws --sample 3 --json",
      "verify /etc/snap2s3/policy.ts aws --drill /mnt/scratch",
    ],
  },
  {
    name: "cat",
    summary:
      "one backup's btrfs send stream, its pipe stages undone and checked, on stdout or into a file (nothing else on stdout)",
    positionals: [_CONFIG, _REMOTE, _BACKUP],
    forms: _configlessForms([_BACKUP]),
    flags: [
      {
        name: "output",
        short: "o",
        kind: "string",
        value: "FILE",
        help:
          "write into FILE (created only when the whole stream was checked) instead of stdout",
      },
      _IDENTITY,
      _NO_VERIFY,
      _PIPE_THROUGH,
      ..._RETRIEVAL,
      ..._REMOTE_FLAGS,
    ],
    examples: [
      "cat /etc/snap2s3/policy.ts usb 0f3c9a2e | btrfs receive /mnt/elsewhere",
      "cat --local /media/usb/backups 0f3c9a2e -o /tmp/backup.btrfs",
    ],
  },
  {
    name: "status",
    summary:
      "is each source's newest backup fresh? Read-only; exit 1 when a source changed since a backup older than --max-age",
    positionals: [_CONFIG],
    flags: [
      {
        name: "max-age",
        kind: "string",
        value: "DURATION",
        help:
          "a backup this old, with changes newer than it in the source, is stale, e.g. 2h, 90m, PT6H (default: twice the finest timeframe of the policy)",
      },
      _JSON,
      _QUIET,
    ],
    examples: [
      "status /etc/snap2s3/policy.ts",
      "status /etc/snap2s3/policy.ts --max-age 26h --json",
    ],
  },
  {
    name: "daemon",
    summary:
      "run an update at each tick until stopped, keeping remote listings in memory; SIGHUP reloads the config, SIGTERM stops cleanly (exit 0)",
    positionals: [_CONFIG],
    flags: [
      {
        name: "every",
        kind: "string",
        value: "DURATION",
        help:
          "time between updates, e.g. 15m, 1h (default: the finest timeframe of the policies)",
      },
      {
        name: "relist",
        kind: "string",
        value: "DURATION",
        help:
          "time between full listings of each remote (default 1h); between them the daemon keeps track of its own uploads and deletes",
      },
      _VERBOSE,
    ],
    examples: [
      "daemon /etc/snap2s3/policy.ts",
      "daemon /etc/snap2s3/policy.ts --every 15m --relist 6h",
    ],
  },
  {
    name: "init",
    summary:
      "write a starter policy.ts and a deno.json beside it (its import map points snap2s3 at this installation), so the policy can live anywhere",
    positionals: [{
      name: "dir",
      help:
        "the directory to write into (made if missing; existing files are never overwritten)",
    }],
    flags: [
      {
        name: "timezone",
        kind: "string",
        value: "TZ",
        help: "the policy's IANA time zone (default: the system's, else UTC)",
      },
    ],
    examples: ["init /etc/snap2s3", "init ~/backup --timezone Europe/Berlin"],
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
          "time between runs on the wall clock, in policy units (1d, 6h, 30M, 10s) or ISO-8601 (PT6H, P1D)",
      },
      {
        name: "price",
        kind: "string",
        value: "aws|r2|b2",
        help:
          "add the monthly cost in steady state and the cost of a restore at this provider's list prices (needs --size and --change)",
      },
      {
        name: "size",
        kind: "string",
        value: "GIB",
        help: "with --price: the source's size in GiB (a full backup)",
      },
      {
        name: "change",
        kind: "string",
        value: "GIB_PER_DAY",
        help:
          "with --price: GiB changed per day (a differential holds the change since its parent)",
      },
      {
        name: "compression",
        kind: "string",
        value: "RATIO",
        help: "with --price: compression ratio of the pipe, e.g. 2 (default 1)",
      },
      {
        name: "storage-class",
        kind: "string",
        value: "CLASS",
        help:
          "with --price: storage class of the objects (default STANDARD), e.g. STANDARD_IA",
      },
      {
        name: "storage-classes",
        kind: "string",
        value: "UNIT=CLASS,...",
        help:
          "with --price: class by the coarsest interval a backup is uploaded for, e.g. y=DEEP_ARCHIVE,m=GLACIER",
      },
      {
        name: "window",
        kind: "string",
        value: "DURATION",
        help:
          "with --price: the stretch before --end the monthly figures average over (default: one interval of the policy's coarsest unit, e.g. 1y)",
      },
      {
        name: "restore-rate",
        kind: "string",
        value: "RATE",
        help:
          "with --price: download rate assumed for the restore time (default 100Mbit/s), e.g. 20MiB/s",
      },
      {
        name: "json",
        kind: "boolean",
        help:
          'print {"snapshots": [...], "backups": [{"ctime", "parent"}], "history": {...}, "cost": {...}}',
      },
    ],
    examples: [
      'simulate --policy "1y 3m 30d 24h" --timezone UTC --start 2024-01-01T00:00:00Z --end 2024-06-01T00:00:00Z --every 6h',
      'simulate --policy "1y 3m 30d 24h" --timezone UTC --start 2024-01-01T00:00:00Z --end 2025-12-31T23:00:00Z --every 1h --price r2 --size 500 --change 2',
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
    "bad input: arguments, config, unknown remote, missing permission, a remote refusing its settings (no such bucket, wrong key); or stopped by a guard (clock behind the newest snapshot, mass deletion without --allow-mass-delete)",
  ],
  [
    "75",
    "try again later: another run holds the lock, or archived backups are being retrieved (see --wait)",
  ],
  ["130/143", "interrupted by SIGINT/SIGTERM"],
];
