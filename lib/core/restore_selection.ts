/**
 * Which backups a restore receives, decided from the remote's listing alone
 * (pure: the caller finds the live sources' uuids).
 *
 * Backups are grouped by source uuid (`.prnt`), never by name alone. For
 * each configured source, the group of the live source's uuid is chosen when
 * it has backups; otherwise the one group whose name is the source's
 * directory name (a new machine, or the source recreated with a new uuid);
 * several such groups are refused, listed. An explicit snapshot or source
 * uuid (or a unique prefix of at least 8 hex digits) always works, whatever
 * the config and the local state. `latest` takes, per source, the newest
 * snapshot that can be restored, with its chain. A backup whose chain lacks
 * an ancestor (missing, or incomplete in the remote) is reported as broken;
 * the rest is restored.
 *
 * @module
 */

import {
  type BrokenChain,
  incompleteByUuid,
  planChains,
} from "./restore_chains.ts";
import type { BackupInfo } from "./types.ts";

export { type BrokenChain, describeBrokenChain } from "./restore_chains.ts";
import { formatIsoSeconds } from "./zone.ts";

/** What to restore, from the command line's optional `[uuid|latest]`. */
export type RestoreTarget =
  | { kind: "all" }
  | { kind: "latest" }
  | {
    kind: "uuid";
    /** Lowercase hex digits, dashes removed, 8 to 32 of them. */
    prefix: string;
    /** As given, for messages. */
    text: string;
  };

/** A configured source, as restore sees it. */
export interface SourceSpec {
  /** The source's path in the config. */
  path: string;
  /** Its directory name: the name in its backups' keys. */
  name: string;
  /** Uuid of the subvolume at `path` now; null when there is none. */
  liveUuid: string | null;
}

/** Input of {@linkcode selectRestore}. */
export interface SelectionInput {
  /** Remote id, for messages. */
  remote: string;
  /** The remote's complete backups. */
  backups: readonly BackupInfo[];
  /** The remote's incomplete backups (an object missing): named when a chain needs one. */
  incomplete?: readonly { keys: string[]; reason: string }[];
  /** The configured sources that upload to this remote; null without a config (every source in the remote). */
  sources: readonly SourceSpec[] | null;
  /** What to restore. */
  target: RestoreTarget;
  /** `--source`: a source uuid (or unique prefix), a source's directory name, or a configured source's path. */
  source?: string;
  /** Zone for times in messages. */
  timeZone: string;
}

/** One source group chosen for restore. */
export interface SelectedSource {
  /** The source uuid (`.prnt`) of the group. */
  sourceUuid: string;
  /** The name in its keys (of its newest backup). */
  name: string;
  /** The configured source it was chosen for; null when chosen by uuid or without a config. */
  path: string | null;
  /** How this source uuid was chosen, one line. */
  why: string;
  /** Backups to receive, each parent before its children. */
  backups: BackupInfo[];
  /** Chains that cannot be restored. */
  broken: BrokenChain[];
}

/** Outcome of {@linkcode selectRestore}. */
export interface RestoreSelection {
  /** Chosen source groups. */
  sources: SelectedSource[];
  /** Configured sources that have no backups in the remote. */
  unmatched: SourceSpec[];
}

/**
 * Why a selection cannot be made: `bad-input` (a malformed uuid, or chosen
 * backups that cannot be undone without a flag such as `--identity`) and
 * `ambiguous` are the user's to fix (exit 2); `not-found` is exit 1.
 */
export type SelectionErrorKind = "bad-input" | "ambiguous" | "not-found";

/** A selection that cannot be made; the message says what the remote holds or how to choose. */
export class SelectionError extends Error {
  /** What went wrong. */
  readonly kind: SelectionErrorKind;

  /** An error of `kind` described by `message`. */
  constructor(kind: SelectionErrorKind, message: string) {
    super(message);
    this.name = "SelectionError";
    this.kind = kind;
  }
}

/** Fewest hex digits a uuid prefix may have. */
export const MIN_UUID_PREFIX = 8;

/**
 * Parses restore's optional target: nothing (every backup), `latest`, or a
 * snapshot or source uuid, whole or a prefix of at least 8 hex digits
 * (dashes optional).
 *
 * @param text The argument, or undefined.
 * @returns The target.
 * @throws {SelectionError} "bad-input" for anything else.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRestoreTarget } from "./restore_selection.ts";
 * assert.deepEqual(parseRestoreTarget("latest"), { kind: "latest" });
 * assert.equal(parseRestoreTarget("AA39303B-1")?.kind, "uuid");
 * assert.throws(() => parseRestoreTarget("aa39"), /at least 8/);
 * ```
 */
export function parseRestoreTarget(text: string | undefined): RestoreTarget {
  if (text === undefined || text === "") return { kind: "all" };
  if (text === "latest") return { kind: "latest" };
  return { kind: "uuid", prefix: _uuidPrefix(text, "uuid"), text };
}

function _uuidPrefix(text: string, what: string): string {
  const hex = text.toLowerCase().replaceAll("-", "");
  if (!/^[0-9a-f]*$/.test(hex) || hex.length > 32) {
    throw new SelectionError(
      "bad-input",
      `${what} ${
        JSON.stringify(text)
      } is neither "latest" nor a uuid: give a snapshot or source uuid from list-backups, or a prefix of at least ${MIN_UUID_PREFIX} hex digits`,
    );
  }
  if (hex.length < MIN_UUID_PREFIX) {
    throw new SelectionError(
      "bad-input",
      `${what} ${
        JSON.stringify(text)
      } is too short: give at least ${MIN_UUID_PREFIX} hex digits of the uuid`,
    );
  }
  return hex;
}

function _matches(uuid: string, prefix: string): boolean {
  return uuid.replaceAll("-", "").startsWith(prefix);
}

interface _Group {
  sourceUuid: string;
  name: string;
  backups: BackupInfo[];
}

/**
 * Chooses the source groups and backups to restore.
 *
 * @param input The listing, the configured sources and what was asked.
 * @returns The chosen groups with the backups to receive in order, and the broken chains.
 * @throws {SelectionError} On a bad or ambiguous uuid, several sources of one name, or nothing to restore.
 */
export function selectRestore(input: SelectionInput): RestoreSelection {
  const groups = _groups(input.backups);
  let chosen: { group: _Group; path: string | null; why: string }[];
  let unmatched: SourceSpec[] = [];
  let snapshot: string | null = null;
  const pool = input.source === undefined
    ? groups
    : _bySourceOption(input, groups);
  if (input.target.kind === "uuid") {
    const hit = _byUuid(input, input.target, pool);
    chosen = [hit];
    snapshot = hit.snapshot;
  } else if (input.source !== undefined || input.sources === null) {
    chosen = _byName(input, pool, input.source === undefined);
  } else {
    const r = _forSources(input, groups);
    chosen = r.chosen;
    unmatched = r.unmatched;
  }
  if (chosen.length === 0) {
    const what = input.sources === null || input.source !== undefined
      ? "nothing to restore"
      : input.sources.length === 0
      ? `no configured source uploads to remote ${input.remote}`
      : `no backups of ${
        input.sources.map((s) => s.path).join(", ")
      } in remote ${input.remote}`;
    throw new SelectionError(
      "not-found",
      `${what}; ${_summary(input, groups)}`,
    );
  }
  const incomplete = incompleteByUuid(input.incomplete ?? []);
  const sources = chosen.map(({ group, path, why }) => ({
    sourceUuid: group.sourceUuid,
    name: group.name,
    path,
    why,
    ...planChains(group, input.target.kind, snapshot, incomplete),
  }));
  return { sources, unmatched };
}

function _groups(backups: readonly BackupInfo[]): _Group[] {
  const map = new Map<string, BackupInfo[]>();
  for (const b of backups) {
    const list = map.get(b.sourceUuid) ?? [];
    list.push(b);
    map.set(b.sourceUuid, list);
  }
  return [...map].map(([sourceUuid, list]) => {
    list.sort((a, b) => a.ctransid - b.ctransid);
    return { sourceUuid, name: list[list.length - 1].name, backups: list };
  }).sort((a, b) =>
    a.name < b.name
      ? -1
      : a.name > b.name
      ? 1
      : a.sourceUuid < b.sourceUuid
      ? -1
      : 1
  );
}

/** The groups `--source` allows: by source uuid prefix, else by name or configured path. */
function _bySourceOption(input: SelectionInput, groups: _Group[]): _Group[] {
  const text = input.source!;
  const hex = text.toLowerCase().replaceAll("-", "");
  if (/^[0-9a-f]{8,32}$/.test(hex)) {
    const hits = groups.filter((g) => _matches(g.sourceUuid, hex));
    if (hits.length > 1) {
      throw new SelectionError(
        "ambiguous",
        `--source ${text} matches several sources in remote ${input.remote}: ${
          _listGroups(hits, input.timeZone)
        }; give more digits`,
      );
    }
    if (hits.length === 1) return hits;
  }
  const configured = input.sources?.find((s) =>
    s.path === text || s.name === text
  );
  const name = configured?.name ?? text;
  const hits = groups.filter((g) => g.backups.some((b) => b.name === name));
  if (hits.length === 0) {
    throw new SelectionError(
      "not-found",
      `--source ${text}: no source of that name or uuid in remote ${input.remote}; ${
        _summary(input, groups)
      }`,
    );
  }
  if (hits.length > 1 && configured?.liveUuid) {
    const live = hits.filter((g) => g.sourceUuid === configured.liveUuid);
    if (live.length === 1) return live;
  }
  return hits;
}

function _byUuid(
  input: SelectionInput,
  target: Extract<RestoreTarget, { kind: "uuid" }>,
  pool: _Group[],
): { group: _Group; path: null; why: string; snapshot: string | null } {
  const hits = new Map<string, { group: _Group; snapshot: string | null }>();
  for (const g of pool) {
    if (_matches(g.sourceUuid, target.prefix)) {
      hits.set(`source ${g.sourceUuid}`, { group: g, snapshot: null });
    }
    for (const b of g.backups) {
      if (_matches(b.uuid, target.prefix)) {
        hits.set(`snapshot ${b.uuid} of ${g.name}`, {
          group: g,
          snapshot: b.uuid,
        });
      }
    }
  }
  if (hits.size === 0) {
    throw new SelectionError(
      "not-found",
      `no snapshot or source with uuid ${target.text} in remote ${input.remote}${
        input.source === undefined ? "" : ` (with --source ${input.source})`
      }; ${summarizeRemote(input)}`,
    );
  }
  if (hits.size > 1) {
    throw new SelectionError(
      "ambiguous",
      `uuid ${target.text} matches ${
        [...hits.keys()].join(", ")
      }: give more digits`,
    );
  }
  const [[what, hit]] = hits;
  return { ...hit, path: null, why: `${what} was asked for` };
}

/** By name: with `--source` (one name), or without a config (every name). */
function _byName(
  input: SelectionInput,
  pool: _Group[],
  everyName: boolean,
): { group: _Group; path: string | null; why: string }[] {
  const byName = new Map<string, _Group[]>();
  for (const g of pool) {
    byName.set(g.name, [...byName.get(g.name) ?? [], g]);
  }
  const clashes = [...byName].filter(([, gs]) => gs.length > 1);
  if (clashes.length) {
    throw new SelectionError(
      "ambiguous",
      clashes.map(([name, gs]) =>
        `${gs.length} sources named ${name} in remote ${input.remote}: ${
          _listGroups(gs, input.timeZone)
        }`
      ).join("; ") + "; choose one with --source <source uuid>",
    );
  }
  return pool.map((g) => ({
    group: g,
    path: null,
    why: everyName
      ? `the only source named ${g.name} in remote ${input.remote}`
      : `chosen with --source ${input.source}`,
  }));
}

/** The group of each configured source: its live uuid's, else the one of its name. */
function _forSources(
  input: SelectionInput,
  groups: _Group[],
): {
  chosen: { group: _Group; path: string; why: string }[];
  unmatched: SourceSpec[];
} {
  const chosen: { group: _Group; path: string; why: string }[] = [];
  const unmatched: SourceSpec[] = [];
  const clashes: string[] = [];
  for (const src of input.sources!) {
    const live = groups.find((g) => g.sourceUuid === src.liveUuid);
    let pick: { group: _Group; why: string } | null = null;
    if (live) {
      pick = { group: live, why: `the uuid of ${src.path} now` };
    } else {
      const named = groups.filter((g) =>
        g.backups.some((b) => b.name === src.name)
      );
      if (named.length > 1) {
        clashes.push(
          `${src.path}${
            src.liveUuid ? " (no backups under its current uuid)" : ""
          } matches ${named.length} sources named ${src.name} in remote ${input.remote}: ${
            _listGroups(named, input.timeZone)
          }`,
        );
        continue;
      }
      if (named.length === 1) {
        pick = {
          group: named[0],
          why: `the only source named ${src.name} in remote ${input.remote} (${
            src.liveUuid
              ? `${src.path} has a new uuid, ${src.liveUuid}`
              : `${src.path} does not exist`
          })`,
        };
      }
    }
    if (pick === null) unmatched.push(src);
    else if (!chosen.some((c) => c.group === pick.group)) {
      chosen.push({ ...pick, path: src.path });
    }
  }
  if (clashes.length) {
    throw new SelectionError(
      "ambiguous",
      `${
        clashes.join("; ")
      }; choose one with --source <source uuid>, or give a snapshot uuid`,
    );
  }
  return { chosen, unmatched };
}

function _listGroups(groups: _Group[], timeZone: string): string {
  return groups.map((g) =>
    `${g.sourceUuid} (${g.backups.length} backup(s), newest ${
      formatIsoSeconds(
        g.backups.reduce((a, b) =>
          Temporal.Instant.compare(a.ctime, b.ctime) >= 0 ? a : b
        ).ctime,
        timeZone,
      )
    })`
  ).join(", ");
}

/**
 * What a remote holds, one line: each source with its uuid, count and newest backup.
 *
 * @param input The remote id, its backups and the zone for times.
 * @returns E.g. `remote nas holds: data (source 1234…, 3 backup(s), newest …)`.
 */
export function summarizeRemote(
  input: Pick<SelectionInput, "remote" | "backups" | "timeZone">,
): string {
  return _summary(input, _groups(input.backups));
}

function _summary(
  input: Pick<SelectionInput, "remote" | "timeZone">,
  groups: readonly _Group[],
): string {
  if (groups.length === 0) {
    return `remote ${input.remote} holds no backups`;
  }
  return `remote ${input.remote} holds: ${
    groups.map((g) =>
      `${g.name} from source ${_listGroups([g], input.timeZone)}`
    )
      .join(", ")
  }`;
}
