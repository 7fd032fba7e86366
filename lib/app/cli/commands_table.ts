/**
 * The one table of commands, their arguments and flags. The parser
 * (`args.ts`) and every usage text (`usage.ts`) are made from it, so a flag
 * exists, parses and is documented in one place.
 *
 * @module
 */

import type { CommandSpec } from "./command_spec.ts";
import {
  BACKUP_ARG,
  BWLIMIT_FLAG,
  CONFIG_ARG,
  configlessForms,
  DEST_ARG,
  IDENTITY_FLAG,
  JSON_FLAG,
  NO_VERIFY_FLAG,
  PIPE_THROUGH_FLAG,
  QUIET_FLAG,
  REMOTE_ARG,
  REMOTE_FLAGS,
  RETRIEVAL_FLAGS,
  TARGET_ARG,
  VERBOSE_FLAG,
  WAIT_LOCK_FLAG,
} from "./common_args.ts";

export type {
  CommandSpec,
  FlagSpec,
  PositionalForm,
  PositionalSpec,
} from "./command_spec.ts";
export { HELP_FLAG } from "./common_args.ts";

/** Every command, in the order the global usage lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "update",
    summary:
      "snapshot each source that changed, plan, show the plan, confirm, and carry it out",
    positionals: [CONFIG_ARG],
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
      BWLIMIT_FLAG,
      {
        name: "init-remote",
        kind: "boolean",
        help:
          "use a local remote directory that has no snap2s3 marker yet although the sources have snapshots (without it such a run stops: is the disk mounted?)",
      },
      WAIT_LOCK_FLAG,
      JSON_FLAG,
      QUIET_FLAG,
      VERBOSE_FLAG,
    ],
    examples: [
      "update /etc/snap2s3/policy.ts --pretend",
      "update /etc/snap2s3/policy.ts --force",
      "update /etc/snap2s3/policy.ts --force --quiet   # for cron: mail only on trouble",
      "update /etc/snap2s3/policy.ts --force --json > last-run.json",
      "update /etc/snap2s3/policy.ts --force --wait-lock=3600   # after a run still going",
    ],
  },
  {
    name: "restore",
    summary:
      "receive backups (of the config's sources, one source, or one snapshot and its chain) into a btrfs directory",
    positionals: [CONFIG_ARG, DEST_ARG, REMOTE_ARG, TARGET_ARG],
    forms: configlessForms([DEST_ARG, TARGET_ARG]),
    flags: [
      {
        name: "source",
        kind: "string",
        value: "NAME|UUID",
        help:
          "restore only this source: its directory name, its path in the config, or its source uuid (8+ hex digits)",
      },
      IDENTITY_FLAG,
      NO_VERIFY_FLAG,
      PIPE_THROUGH_FLAG,
      BWLIMIT_FLAG,
      ...RETRIEVAL_FLAGS,
      WAIT_LOCK_FLAG,
      JSON_FLAG,
      QUIET_FLAG,
      VERBOSE_FLAG,
      ...REMOTE_FLAGS,
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
    positionals: [CONFIG_ARG, {
      name: "remote",
      help: "the id of the remote to list",
    }],
    forms: configlessForms([]),
    flags: [
      {
        name: "json",
        kind: "boolean",
        help: "print the listing as one JSON object",
      },
      VERBOSE_FLAG,
      ...REMOTE_FLAGS,
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
    positionals: [CONFIG_ARG, REMOTE_ARG],
    forms: configlessForms([]),
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
      IDENTITY_FLAG,
      PIPE_THROUGH_FLAG,
      ...RETRIEVAL_FLAGS,
      ...REMOTE_FLAGS,
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
    positionals: [CONFIG_ARG, REMOTE_ARG, BACKUP_ARG],
    forms: configlessForms([BACKUP_ARG]),
    flags: [
      {
        name: "output",
        short: "o",
        kind: "string",
        value: "FILE",
        help:
          "write into FILE (created only when the whole stream was checked) instead of stdout",
      },
      IDENTITY_FLAG,
      NO_VERIFY_FLAG,
      PIPE_THROUGH_FLAG,
      ...RETRIEVAL_FLAGS,
      ...REMOTE_FLAGS,
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
    positionals: [CONFIG_ARG],
    flags: [
      {
        name: "max-age",
        kind: "string",
        value: "DURATION",
        help:
          "a backup this old, with changes newer than it in the source, is stale, e.g. 2h, 90m, PT6H (default: twice the finest timeframe of the policy)",
      },
      JSON_FLAG,
      QUIET_FLAG,
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
    positionals: [CONFIG_ARG],
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
      VERBOSE_FLAG,
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
