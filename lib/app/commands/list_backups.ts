/**
 * `list-backups`: the backup tree in one remote, per source: full backups
 * with their differential children, with time, size, parent and storage class.
 *
 * @module
 */

import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateConfig } from "../config/validate.ts";
import { formatIsoSeconds } from "../../core/zone.ts";
import type { BackupInfo } from "../../core/types.ts";
import { formatSize } from "../../core/format.ts";
import type { RetryInfo } from "../../drivers/remote/retry.ts";
import { RemoteSet } from "../remotes.ts";

/** One backup as listed. */
export interface ListedBackup {
  /** `.seqn0` key. */
  key: string;
  /** All object keys. */
  keys: string[];
  /** ISO-8601 with the config's zone offset. */
  ctime: string;
  /** `.ctid`: the snapshot's ctransid. */
  ctransid: number;
  /** The snapshot's uuid. */
  uuid: string;
  /** Send parent's uuid, null for a full backup. */
  parent: string | null;
  /** Bytes of all objects, when the listing told. */
  size: number | null;
  /** Storage class of the first object, when the listing told. */
  storageClass: string | null;
  /** Pipe suffixes of the key, e.g. `["zst"]`. */
  suffixes: string[];
  /** Nesting depth in the tree (0 for a full backup or a broken chain's root). */
  depth: number;
}

/** The listing of one remote. */
export interface BackupListing {
  /** The remote's id. */
  remote: string;
  /** Backups per source (grouped by `.prnt`), each in tree order. */
  sources: { name: string; sourceUuid: string; backups: ListedBackup[] }[];
  /** Keys that are not backups (never touched). */
  foreign: string[];
  /** Backups missing an object (never touched). */
  incomplete: string[];
}

/** Options of {@linkcode listBackups}. */
export interface ListBackupsOptions {
  /** Told before each retry of a request. */
  onRetry?: (remoteId: string, info: RetryInfo) => void;
}

/**
 * Lists the backups in one remote as trees.
 *
 * @param configInput The config (for the remote and the timezone).
 * @param remoteId The remote to list.
 * @param options A retry callback.
 * @returns Every backup, per source, in tree order.
 */
export async function listBackups(
  configInput: Config | ConfigInput,
  remoteId: string,
  options: ListBackupsOptions = {},
): Promise<BackupListing> {
  const config = validateConfig(configInput);
  const remotes = new RemoteSet(config.remotes, { onRetry: options.onRetry });
  try {
    const listing = await remotes.listing(remoteId);
    const bySource = new Map<string, BackupInfo[]>();
    for (const b of listing.backups) {
      const list = bySource.get(b.sourceUuid) ?? [];
      list.push(b);
      bySource.set(b.sourceUuid, list);
    }
    const sources = [...bySource.entries()].map(([sourceUuid, backups]) => ({
      name: backups[0].name,
      sourceUuid,
      backups: _treeOrder(backups).map(({ backup: b, depth }) => ({
        key: b.keys[0],
        keys: b.keys,
        ctime: formatIsoSeconds(b.ctime, config.timezone),
        ctransid: b.ctransid,
        uuid: b.uuid,
        parent: b.sendParentUuid,
        size: b.size ?? null,
        storageClass: b.storageClass ?? null,
        suffixes: b.suffixes,
        depth,
      })),
    }));
    sources.sort((a, b) =>
      a.name.localeCompare(b.name) || a.sourceUuid.localeCompare(b.sourceUuid)
    );
    return {
      remote: remoteId,
      sources,
      foreign: listing.foreign.map((f) => f.key),
      incomplete: listing.incomplete.map((i) => i.keys[0]),
    };
  } finally {
    remotes.close();
  }
}

/** Depth-first: each backup followed by its children, oldest first. */
function _treeOrder(
  backups: BackupInfo[],
): { backup: BackupInfo; depth: number }[] {
  const sorted = [...backups].sort((a, b) => a.ctransid - b.ctransid);
  const uuids = new Set(sorted.map((b) => b.uuid));
  const children = new Map<string, BackupInfo[]>();
  const roots: BackupInfo[] = [];
  for (const b of sorted) {
    if (b.sendParentUuid && uuids.has(b.sendParentUuid)) {
      const list = children.get(b.sendParentUuid) ?? [];
      list.push(b);
      children.set(b.sendParentUuid, list);
    } else {
      roots.push(b);
    }
  }
  const out: { backup: BackupInfo; depth: number }[] = [];
  const visited = new Set<string>();
  const walk = (b: BackupInfo, depth: number) => {
    out.push({ backup: b, depth });
    // Two backups of one snapshot share a uuid: descend once.
    if (visited.has(b.uuid)) return;
    visited.add(b.uuid);
    for (const c of children.get(b.uuid) ?? []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  return out;
}

/** The listing as text for a terminal. */
export function renderBackupListing(listing: BackupListing): string {
  const lines: string[] = [];
  let count = 0;
  let full = 0;
  let bytes = 0;
  for (const s of listing.sources) {
    lines.push(`${s.name} (source ${s.sourceUuid})`);
    const ctimeOf = new Map(s.backups.map((b) => [b.uuid, b.ctime]));
    for (const b of s.backups) {
      count++;
      if (!b.parent) full++;
      bytes += b.size ?? 0;
      const kind = b.parent
        ? `diff from ${ctimeOf.get(b.parent) ?? `missing parent ${b.parent}`}`
        : "full";
      const extra = [
        b.size === null ? "size ?" : formatSize(b.size),
        b.storageClass ?? "",
        b.suffixes.length ? b.suffixes.map((x) => "." + x).join("") : "",
        b.keys.length > 1 ? `${b.keys.length} objects` : "",
      ].filter(Boolean).join(", ");
      lines.push(
        `${
          "  ".repeat(b.depth + 1)
        }${b.ctime}  ${kind}  (${extra})  uuid ${b.uuid}`,
      );
    }
  }
  lines.push(
    `${listing.remote}: ${count} backup(s), ${full} full, ${
      formatSize(bytes)
    } in all`,
  );
  if (listing.incomplete.length) {
    lines.push(`incomplete (not touched): ${listing.incomplete.join(", ")}`);
  }
  if (listing.foreign.length) {
    lines.push(`${listing.foreign.length} other object(s) not touched`);
  }
  return lines.join("\n");
}
