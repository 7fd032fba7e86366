/**
 * Archived backups before a restore, as glacier-cli does it: find every
 * object of the chain (and its manifest) that is archived and not yet
 * retrieved, ask for the retrieval of all of them at once, then either stop
 * with "try again later" (exit 75, one line: how many objects and bytes, and
 * the provider's usual wait) or, with `wait`, poll at growing intervals until
 * they are ready. A later run finds them ready (HEAD) and goes on. Stores
 * whose archive classes read at once (Ceph) pass straight through: a
 * one-byte read tells.
 *
 * @module
 */

import { formatSize } from "../core/format.ts";
import { isArchiveClass, RETRIEVAL_TIMES } from "../core/plan/storage_class.ts";
import type { BackupInfo } from "../core/types.ts";
import type {
  ArchiveStatus,
  ColdStorage,
  RestoreTier,
} from "../drivers/remote/cold_storage.ts";
import { NotFoundError } from "../drivers/remote/errors.ts";
import type { Remote } from "../drivers/remote/remote.ts";
import { manifestKey } from "../drivers/transfer/manifest.ts";
import type { Output } from "./output.ts";
import { sleep } from "../drivers/remote/retry.ts";

/** The retrieval tiers, as `--tier` takes them. */
export const RESTORE_TIERS: readonly RestoreTier[] = [
  "Standard",
  "Bulk",
  "Expedited",
];

/** Options of {@linkcode ensureRetrievable}. */
export interface RetrievalOptions {
  /** Retrieval tier (default Standard). */
  tier?: RestoreTier;
  /** Days a retrieved copy stays readable (default 7). */
  days?: number;
  /** Poll until everything is ready instead of stopping with exit 75. */
  wait?: boolean;
  /** First wait between polls in ms (default 60 s); each wait is 1.5 times the last. */
  pollMs?: number;
  /** Longest wait between polls in ms (default 15 min). */
  maxPollMs?: number;
  /** Stops waiting. */
  signal?: AbortSignal;
}

/** What {@linkcode ensureRetrievable} found and did. */
export interface RetrievalReport {
  /** Archived objects that were not readable at first. */
  archived: number;
  /** Retrievals this run asked for (a 409 "already in progress" counts). */
  requested: number;
  /** Bytes of the archived objects. */
  bytes: number;
  /** Polls made while waiting. */
  polls: number;
}

/** Archived objects are being retrieved and cannot be read yet: try again later (exit 75). */
export class RetrievalPendingError extends Error {
  /** The exit code the command line ends with. */
  readonly exitCode = 75;
  /** Objects not ready yet. */
  readonly objects: number;
  /** Their bytes. */
  readonly bytes: number;

  /** `objects` objects of `bytes` bytes still being retrieved. */
  constructor(message: string, objects: number, bytes: number) {
    super(message);
    this.name = "RetrievalPendingError";
    this.objects = objects;
    this.bytes = bytes;
  }
}

interface _Pending {
  key: string;
  status: ArchiveStatus;
}

/**
 * Makes every object of `backups` (and their manifests) readable, or asks
 * for it: see the module doc.
 *
 * @param remote The remote to restore from.
 * @param backups The backups about to be read.
 * @param options Tier, days, and whether to wait.
 * @param out Where the waiting line goes.
 * @returns What was archived and requested.
 * @throws {RetrievalPendingError} When objects are still being retrieved and `wait` is not set.
 */
export async function ensureRetrievable(
  remote: Remote,
  backups: readonly BackupInfo[],
  options: RetrievalOptions,
  out: Output,
): Promise<RetrievalReport> {
  const report: RetrievalReport = {
    archived: 0,
    requested: 0,
    bytes: 0,
    polls: 0,
  };
  const cold = remote.cold;
  if (!cold || backups.length === 0) return report;
  const keys = backups.flatMap((b) => [...b.keys, manifestKey(b.keys[0])]);
  const manifests = new Set(backups.map((b) => manifestKey(b.keys[0])));
  const statuses = await _map(keys, async (key) => {
    try {
      return { key, status: await cold.archiveStatus(key) };
    } catch (e) {
      // btrfs2s3's backups have no manifest.
      if (e instanceof NotFoundError && manifests.has(key)) return null;
      throw e;
    }
  });
  const pending: _Pending[] = [];
  const toRequest: _Pending[] = [];
  for (const s of statuses) {
    if (s === null || s.status.restore === "ready") continue;
    if (s.status.restore === "ongoing") {
      pending.push(s);
      continue;
    }
    if (!isArchiveClass(s.status.storageClass)) continue;
    // Ceph's archive classes are placement targets that read at once.
    if (await cold.readable(s.key)) continue;
    toRequest.push(s);
  }
  report.archived = pending.length + toRequest.length;
  report.bytes = [...pending, ...toRequest].reduce(
    (n, p) => n + p.status.size,
    0,
  );
  if (report.archived === 0) return report;
  const tier = options.tier ?? "Standard";
  const days = options.days ?? 7;
  // All at once: the provider works on them in parallel.
  const answers = await _map(
    toRequest,
    (p) => cold.requestRestore(p.key, { days, tier }),
  );
  toRequest.forEach((p, i) => {
    report.requested++;
    if (answers[i] !== "ready") pending.push(p);
  });
  if (pending.length === 0) return report;
  const bytes = pending.reduce((n, p) => n + p.status.size, 0);
  const classes = [
    ...new Set(pending.map((p) => p.status.storageClass ?? "archived")),
  ];
  const wait = classes.map((c) =>
    `${c} ${tier} retrievals usually take ${
      RETRIEVAL_TIMES[c]?.[tier] ?? "hours"
    }`
  ).join("; ");
  const what = `${pending.length} archived object(s), ${
    formatSize(bytes)
  }, of remote ${remote.id}`;
  if (!options.wait) {
    throw new RetrievalPendingError(
      `retrieval requested for ${what} (${wait}); run the restore again once they are ready, or add --wait`,
      pending.length,
      bytes,
    );
  }
  await _waitFor(
    cold,
    pending,
    what,
    wait,
    { ...options, tier, days },
    out,
    report,
  );
  return report;
}

/** Polls the pending objects at growing intervals until every one is ready. */
async function _waitFor(
  cold: ColdStorage,
  pending: _Pending[],
  what: string,
  wait: string,
  options: RetrievalOptions & { tier: RestoreTier; days: number },
  out: Output,
  report: RetrievalReport,
): Promise<void> {
  const total = pending.length;
  let delay = options.pollMs ?? 60_000;
  const max = options.maxPollMs ?? 15 * 60_000;
  let left = [...pending];
  out.log(`waiting for the retrieval of ${what} (${wait})`);
  while (left.length > 0) {
    await sleep(delay, options.signal);
    report.polls++;
    const still = await _map(left, async (p) => {
      const s = await cold.archiveStatus(p.key);
      if (s.restore === "ready") return false;
      if (s.restore === "none") {
        if (await cold.readable(p.key)) return false;
        // The provider forgot the request (or its copy expired): ask again.
        const answer = await cold.requestRestore(p.key, options);
        return answer !== "ready";
      }
      return true;
    });
    left = left.filter((_, i) => still[i]);
    delay = Math.min(max, Math.round(delay * 1.5));
    out.log(
      left.length === 0
        ? `retrieval done: ${total} of ${total} objects ready`
        : `retrieval: ${
          total - left.length
        } of ${total} objects ready; next check in ${_seconds(delay)}`,
    );
  }
}

function _seconds(ms: number): string {
  return ms < 120_000
    ? `${Math.round(ms / 100) / 10} s`
    : `${Math.round(ms / 60_000)} min`;
}

/** `fn` over `items`, eight at a time, results in order. */
async function _map<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(8, items.length) }, worker),
  );
  return out;
}
