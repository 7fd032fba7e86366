/**
 * Chains of backups within one source group: which snapshots can be
 * restored (a full backup, or a differential whose parent can), each by its
 * shortest chain, in receive order; and the chains that cannot, grouped by
 * the ancestor that is missing or incomplete in the remote. Pure.
 *
 * @module
 */

import { parseKey } from "./keys.ts";
import type { BackupInfo } from "./types.ts";
import { formatIsoSeconds } from "./zone.ts";

/** A chain that cannot be restored, and why. */
export interface BrokenChain {
  /** The snapshot whose backup is missing or incomplete (or where the chain loops). */
  missingUuid: string;
  /** Why, one line. */
  reason: string;
  /** Backups that cannot be restored because of it, oldest first. */
  backups: BackupInfo[];
}

/**
 * The reasons of a listing's incomplete backups, by `<source uuid> <snapshot uuid>`.
 *
 * @param incomplete The listing's incomplete backups.
 * @returns A map for {@linkcode planChains}.
 */
export function incompleteByUuid(
  incomplete: readonly { keys: string[]; reason: string }[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of incomplete) {
    const k = parseKey(i.keys[0]);
    if (k.ok) out.set(`${k.key.sourceUuid} ${k.key.uuid}`, i.reason);
  }
  return out;
}

type _Resolved =
  | { ok: true; chain: BackupInfo[] }
  | { ok: false; missingUuid: string; reason: string };

/**
 * The backups to receive for one source group, and its broken chains.
 *
 * @param group The group's source uuid and backups (sorted by ctransid).
 * @param kind `all` (every snapshot), `latest` (the newest restorable one), or `uuid` with `snapshot`.
 * @param snapshot The snapshot asked for, or null for all of the group (or its latest).
 * @param incomplete The remote's incomplete backups (see {@linkcode incompleteByUuid}).
 * @returns Backups in receive order (each parent first) and the chains that cannot be restored.
 */
export function planChains(
  group: { sourceUuid: string; backups: readonly BackupInfo[] },
  kind: "all" | "latest" | "uuid",
  snapshot: string | null,
  incomplete: ReadonlyMap<string, string>,
): { backups: BackupInfo[]; broken: BrokenChain[] } {
  const byUuid = new Map<string, BackupInfo[]>();
  for (const b of group.backups) {
    byUuid.set(b.uuid, [...byUuid.get(b.uuid) ?? [], b]);
  }
  const memo = new Map<string, _Resolved>();
  const visiting = new Set<string>();
  const resolve = (uuid: string): _Resolved => {
    const known = memo.get(uuid);
    if (known) return known;
    if (visiting.has(uuid)) {
      return {
        ok: false,
        missingUuid: uuid,
        reason: `the chain through snapshot ${uuid} loops back on itself`,
      };
    }
    visiting.add(uuid);
    let best: _Resolved | null = null;
    let failure: _Resolved | null = null;
    for (const b of byUuid.get(uuid) ?? []) {
      const r: _Resolved = b.sendParentUuid === null
        ? { ok: true, chain: [b] }
        : _extend(resolve(b.sendParentUuid), b);
      if (!r.ok) failure ??= r;
      else if (!best?.ok || r.chain.length < best.chain.length) best = r;
    }
    visiting.delete(uuid);
    const why = incomplete.get(`${group.sourceUuid} ${uuid}`);
    const result = best ?? failure ?? {
      ok: false,
      missingUuid: uuid,
      reason: why === undefined
        ? `the backup of snapshot ${uuid} is missing from the remote`
        : `the backup of snapshot ${uuid} is incomplete (${why})`,
    };
    memo.set(uuid, result);
    return result;
  };

  // Snapshot uuids, oldest first.
  const uuids = [...byUuid.keys()];
  let targets: string[];
  const failed: string[] = [];
  if (snapshot !== null) {
    targets = [snapshot];
  } else if (kind === "latest") {
    targets = [];
    for (const u of uuids.toReversed()) {
      if (resolve(u).ok) {
        targets = [u];
        break;
      }
      failed.push(u); // newer than the latest restorable one
    }
  } else {
    targets = uuids;
  }
  const backups: BackupInfo[] = [];
  const seen = new Set<BackupInfo>();
  for (const t of targets) {
    const r = resolve(t);
    if (!r.ok) {
      failed.push(t);
      continue;
    }
    for (const b of r.chain) {
      if (!seen.has(b)) {
        seen.add(b);
        backups.push(b);
      }
    }
  }
  const brokenBy = new Map<string, BrokenChain>();
  for (
    const t of failed.toSorted((a, b) =>
      byUuid.get(a)![0].ctransid - byUuid.get(b)![0].ctransid
    )
  ) {
    const r = resolve(t) as Extract<_Resolved, { ok: false }>;
    const chain = brokenBy.get(r.missingUuid) ??
      { missingUuid: r.missingUuid, reason: r.reason, backups: [] };
    chain.backups.push(...byUuid.get(t)!);
    brokenBy.set(r.missingUuid, chain);
  }
  return { backups, broken: [...brokenBy.values()] };
}

function _extend(parent: _Resolved, b: BackupInfo): _Resolved {
  return parent.ok ? { ok: true, chain: [...parent.chain, b] } : parent;
}

/**
 * One line for a broken chain, e.g. `data (source …): 2 backup(s) cannot be
 * restored, the backup of snapshot … is missing from the remote: <times>`.
 *
 * @param source The group the chain belongs to.
 * @param chain The broken chain.
 * @param timeZone Zone for the backups' times.
 * @returns The line.
 */
export function describeBrokenChain(
  source: { name: string; sourceUuid: string },
  chain: BrokenChain,
  timeZone: string,
): string {
  return `${source.name} (source ${source.sourceUuid}): ${chain.backups.length} backup(s) cannot be restored, ${chain.reason}: ${
    chain.backups.map((b) =>
      `${formatIsoSeconds(b.ctime, timeZone)} (uuid ${b.uuid})`
    ).join(", ")
  }`;
}
