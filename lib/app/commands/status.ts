/**
 * `status`: is every source's newest backup fresh? Per source and remote:
 * the newest backup, its age, and whether the source has changed since.
 * Read-only: it lists the remotes and reads the sources' ctransid, and
 * creates, renames, uploads and deletes nothing, so it works with read-only
 * credentials and, on a host without the sources, judges by age alone.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import { formatDuration } from "../../core/duration.ts";
import { finestTimeframeMs } from "../../core/policy/timeframe.ts";
import type { BackupInfo } from "../../core/types.ts";
import { formatIsoSeconds } from "../../core/zone.ts";
import {
  BtrfsError,
  getSubvolumeInfo,
  syncFilesystem,
} from "../../drivers/btrfs/driver.ts";
import { validateConfig } from "../config/validate.ts";
import { RemoteSet } from "../remotes.ts";

/** Options of {@linkcode status}. */
export interface StatusOptions {
  /**
   * A backup older than this, with changes newer than it in the source, is
   * stale (ms). Default: twice the finest timeframe of each upload's policy
   * (2 days for the empty policy).
   */
  maxAgeMs?: number;
  /** The time to judge at (default: now). */
  now?: Temporal.Instant;
}

/** The newest backup of one source in one remote. */
export interface StatusBackup {
  /** The first object's key. */
  key: string;
  /** The snapshot's ctime, ISO-8601 in the config's zone. */
  ctime: string;
  /** The snapshot's ctransid. */
  ctransid: number;
  /** The snapshot's uuid. */
  uuid: string;
}

/** One source in one remote. */
export interface StatusEntry {
  /** The source subvolume's path. */
  source: string;
  /** The remote's id. */
  remote: string;
  /** The upload's policy. */
  preserve: string;
  /** The newest backup (largest ctransid); null when there is none. */
  newest: StatusBackup | null;
  /** Seconds from the newest backup's ctime to now; null without a backup. */
  ageSeconds: number | null;
  /** The source's ctransid now; null when the source cannot be read on this host. */
  sourceCtransid: number | null;
  /** The source has changes newer than the newest backup; null when unknown (no source here). */
  changesNewer: boolean | null;
  /** The age above which a backup with newer changes is stale, in seconds. */
  maxAgeSeconds: number;
  /** Changes newer than the newest backup (or unknown) and that backup older than `maxAgeSeconds`, or no backup at all. */
  stale: boolean;
}

/** What {@linkcode status} found. */
export interface StatusReport {
  /** When it was judged, ISO-8601 in the config's zone. */
  checkedAt: string;
  /** No entry is stale. */
  fresh: boolean;
  /** One per source and upload, in config order. */
  entries: StatusEntry[];
  /** Sources that could not be read here (judged by age alone), and why. */
  warnings: string[];
}

const _DEFAULT_EMPTY_POLICY_MS = 24 * 3600_000;

/**
 * Judges whether each source's newest backup in each remote is fresh.
 *
 * @param configInput A config (validated here).
 * @param options See {@linkcode StatusOptions}.
 * @returns One entry per source and upload; `fresh` when none is stale.
 */
export async function status(
  configInput: Config | ConfigInput,
  options: StatusOptions = {},
): Promise<StatusReport> {
  const config = validateConfig(configInput);
  const now = options.now ?? Temporal.Now.instant();
  const remotes = new RemoteSet(config.remotes);
  const entries: StatusEntry[] = [];
  const warnings: string[] = [];
  try {
    for (const src of config.sources) {
      const here = await _readSource(src.path);
      if ("problem" in here) {
        warnings.push(
          `${src.path}: ${here.problem}; judged by the backups' age alone`,
        );
      }
      for (const up of src.upload) {
        const listing = await remotes.listing(up.remote);
        const mine = listing.backups.filter((b) =>
          "uuid" in here
            ? b.sourceUuid === here.uuid
            : b.name === basename(resolve(src.path))
        );
        const newest = _newest(mine);
        const maxAgeMs = options.maxAgeMs ??
          2 * finestTimeframeMs([up.preserve], _DEFAULT_EMPTY_POLICY_MS);
        const ageMs = newest
          ? now.epochMilliseconds - newest.ctime.epochMilliseconds
          : null;
        const sourceCtransid = "uuid" in here ? here.ctransid : null;
        const changesNewer = sourceCtransid === null
          ? null
          : !newest || sourceCtransid > newest.ctransid;
        entries.push({
          source: src.path,
          remote: up.remote,
          preserve: up.preserve,
          newest: newest && {
            key: newest.keys[0],
            ctime: formatIsoSeconds(newest.ctime, config.timezone),
            ctransid: newest.ctransid,
            uuid: newest.uuid,
          },
          ageSeconds: ageMs === null ? null : Math.floor(ageMs / 1000),
          sourceCtransid,
          changesNewer,
          maxAgeSeconds: maxAgeMs / 1000,
          stale: ageMs === null ||
            (changesNewer !== false && ageMs > maxAgeMs),
        });
      }
    }
  } finally {
    remotes.close();
  }
  return {
    checkedAt: formatIsoSeconds(now, config.timezone),
    fresh: entries.every((e) => !e.stale),
    entries,
    warnings,
  };
}

/**
 * The source's uuid and ctransid, or why they cannot be read on this host
 * (not there, not btrfs). Missing permissions are not "another host": they
 * propagate, so the command says which flag to add.
 */
async function _readSource(
  path: string,
): Promise<{ uuid: string; ctransid: number } | { problem: string }> {
  try {
    // ctransid moves only at commit: flush so a write just made counts.
    await syncFilesystem(path);
    const info = await getSubvolumeInfo(path);
    return { uuid: info.uuid, ctransid: info.ctransid };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { problem: "not found on this host" };
    }
    if (
      e instanceof BtrfsError &&
      ["not-found", "not-btrfs", "not-subvolume"].includes(e.code)
    ) {
      return { problem: e.message };
    }
    throw e;
  }
}

/** The backup with the largest ctransid (of one snapshot, any send parent). */
function _newest(backups: BackupInfo[]): BackupInfo | null {
  let best: BackupInfo | null = null;
  for (const b of backups) if (!best || b.ctransid > best.ctransid) best = b;
  return best;
}

/**
 * The report as lines for a terminal or a log: one per source and remote.
 *
 * @param report From {@linkcode status}.
 * @returns Text, one line per entry, then the warnings.
 */
export function renderStatus(report: StatusReport): string {
  const lines = report.entries.map((e) => {
    const verdict = e.stale ? "STALE" : "fresh";
    const newest = e.newest
      ? `newest ${e.newest.ctime} (${
        formatDuration((e.ageSeconds ?? 0) * 1000)
      } old)`
      : "no backup";
    const changes = e.changesNewer === null
      ? "source not here"
      : e.changesNewer
      ? "source changed since"
      : "no change since";
    return `${verdict}  ${e.source} -> ${e.remote}: ${newest}, ${changes} (max age ${
      formatDuration(e.maxAgeSeconds * 1000)
    })`;
  });
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  if (!report.entries.length) lines.push("no sources configured");
  return lines.join("\n");
}
