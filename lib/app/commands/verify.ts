/**
 * `verify`: read backups back without receiving them. Each backup is
 * downloaded whole and checked against its manifest's SHA-256 and size, its
 * pipe stages undone (so decryption and decompression are checked too), and
 * its stream's first command compared with its key. A backup without a
 * manifest (btrfs2s3) gets the header check only; one whose stages cannot be
 * undone here (age without `--identity`) gets the SHA-256 check only.
 *
 * @module
 */

import type { Config, ConfigInput } from "../../core/config_types.ts";
import { formatSize } from "../../core/format.ts";
import { incompleteByUuid, planChains } from "../../core/restore_chains.ts";
import type { BackupInfo } from "../../core/types.ts";
import { formatIsoSeconds } from "../../core/zone.ts";
import { readSendStreamHead } from "../../drivers/btrfs/send_stream.ts";
import { BtrfsError } from "../../drivers/btrfs/errors.ts";
import { pipeThrough } from "../../drivers/pipe/pipeline.ts";
import type { Remote } from "../../drivers/remote/remote.ts";
import {
  downloadStream,
  IntegrityError,
} from "../../drivers/transfer/download.ts";
import { ensureRetrievable, type RetrievalOptions } from "../retrieval.ts";
import type { Output } from "../output.ts";
import { commandContext } from "./_context.ts";
import { withListing } from "../remotes.ts";
import {
  configuredStages,
  undoCommands,
  type UndoOptions,
} from "../undo_pipe.ts";

/** Options of {@linkcode verify}. */
export interface VerifyOptions extends UndoOptions {
  /** Remote id. */
  remote: string;
  /** Check this many backups, chosen at random (default: every backup). */
  sample?: number;
  /** Check only backups of snapshots taken at or after this instant. */
  since?: Temporal.Instant;
  /** Where the per-backup lines go (default: kept in memory). */
  output?: Output;
  /** Random numbers in [0, 1) for `sample` (default Math.random). */
  random?: () => number;
  /** Archived backups: tier, days, and whether to wait for them (default: ask, then exit 75). */
  retrieval?: RetrievalOptions;
}

/** The check of one backup. */
export interface BackupCheck {
  /** `.seqn0` key. */
  key: string;
  /** Source directory name. */
  name: string;
  /** Snapshot uuid. */
  uuid: string;
  /** Snapshot time, in the config's zone. */
  ctime: string;
  /** Bytes read, when the download got that far. */
  size: number | null;
  /** Against the manifest. */
  sha256: "verified" | "no manifest" | "failed" | "not checked";
  /** The stream's first command against the key. */
  header: "matches" | "failed" | "not checked";
  /** Why something failed or was not checked. */
  note: string | null;
  /** Whether nothing failed. */
  ok: boolean;
}

/** Outcome of {@linkcode verify}. */
export interface VerifyResult {
  /** Remote id. */
  remote: string;
  /** One entry per backup checked, oldest first, then the incomplete ones. */
  backups: BackupCheck[];
  /** Whether every backup passed. */
  ok: boolean;
}

/**
 * Verifies backups in one remote.
 *
 * @param configInput The config (remotes, pipe stages, timezone); a config without sources works.
 * @param options Which backups; see {@linkcode VerifyOptions}.
 * @returns One check per backup.
 */
export async function verify(
  configInput: Config | ConfigInput,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const { config, out } = commandContext(configInput, options);
  return await withListing(config, options.remote, async (remote, listing) => {
    const unrestorable = _unrestorable(listing);
    const checks: BackupCheck[] = [];
    const chosen = _choose(listing.backups, options);
    await ensureRetrievable(remote, chosen, options.retrieval ?? {}, out);
    for (const b of chosen) {
      const check = await _checkOne(remote, b, config, options);
      const why = unrestorable.get(b);
      if (check.ok && why !== undefined) {
        check.ok = false;
        check.note = `cannot be restored: ${why}`;
      }
      checks.push(check);
      out.log(_line(check));
    }
    for (const i of listing.incomplete) {
      const check: BackupCheck = {
        key: i.keys[0],
        name: "",
        uuid: "",
        ctime: "",
        size: null,
        sha256: "not checked",
        header: "not checked",
        note: `incomplete: ${i.reason}`,
        ok: false,
      };
      checks.push(check);
      out.log(_line(check));
    }
    return {
      remote: options.remote,
      backups: checks,
      ok: checks.every((c) => c.ok),
    };
  });
}

/** One line for a terminal: `ok  <ctime> <name> <uuid> (size, sha256 verified, header matches)`. */
function _line(c: BackupCheck): string {
  if (!c.ok) return `FAIL  ${c.key}: ${c.note}`;
  return `ok    ${c.ctime}  ${c.name}  ${c.uuid}  (${
    [
      c.size === null ? "" : formatSize(c.size),
      `sha256 ${c.sha256}`,
      `header ${c.header}`,
      c.note ?? "",
    ].filter(Boolean).join(", ")
  })`;
}

/** A one-line summary of a verify result. */
export function summarizeVerify(result: VerifyResult): string {
  const failed = result.backups.filter((c) => !c.ok).length;
  const noManifest =
    result.backups.filter((c) => c.sha256 === "no manifest").length;
  return `verified ${result.backups.length} backup(s) in ${result.remote}: ${
    result.backups.length - failed
  } ok, ${failed} failed${
    noManifest ? `, ${noManifest} without a manifest (header checked only)` : ""
  }`;
}

/** Backups whose chain is broken (an ancestor missing or incomplete), with why. */
function _unrestorable(
  listing: {
    backups: readonly BackupInfo[];
    incomplete: readonly { keys: string[]; reason: string }[];
  },
): Map<BackupInfo, string> {
  const incomplete = incompleteByUuid(listing.incomplete);
  const groups = Map.groupBy(listing.backups, (b) => b.sourceUuid);
  const out = new Map<BackupInfo, string>();
  for (const [sourceUuid, backups] of groups) {
    const sorted = backups.toSorted((a, b) => a.ctransid - b.ctransid);
    const { broken } = planChains(
      { sourceUuid, backups: sorted },
      "all",
      null,
      incomplete,
    );
    for (const chain of broken) {
      for (const b of chain.backups) out.set(b, chain.reason);
    }
  }
  return out;
}

function _choose(
  backups: readonly BackupInfo[],
  options: VerifyOptions,
): BackupInfo[] {
  let list = [...backups];
  if (options.since) {
    list = list.filter((b) =>
      Temporal.Instant.compare(b.ctime, options.since!) >= 0
    );
  }
  if (options.sample !== undefined && options.sample < list.length) {
    const random = options.random ?? Math.random;
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    list = list.slice(0, options.sample);
  }
  return list.sort((a, b) =>
    Temporal.Instant.compare(a.ctime, b.ctime) || a.ctransid - b.ctransid
  );
}

async function _checkOne(
  remote: Remote,
  b: BackupInfo,
  config: Config,
  options: VerifyOptions,
): Promise<BackupCheck> {
  const check: BackupCheck = {
    key: b.keys[0],
    name: b.name,
    uuid: b.uuid,
    ctime: formatIsoSeconds(b.ctime, config.timezone),
    size: null,
    sha256: "not checked",
    header: "not checked",
    note: null,
    ok: false,
  };
  let undo: string[][] | null = null;
  try {
    undo = undoCommands(
      b,
      configuredStages(config, options.remote, b.name),
      options,
    );
  } catch (e) {
    check.note = `header not checked: ${e instanceof Error ? e.message : e}`;
  }
  let manifest = true;
  try {
    const dl = await downloadStream(remote, b.keys, {
      onUnverified: () => manifest = false,
    });
    check.size = dl.size;
    if (undo === null) {
      await dl.stream.pipeTo(new WritableStream());
    } else {
      const { stream } = await readSendStreamHead(
        pipeThrough(dl.stream, undo),
        {
          label: "its stream",
          expect: {
            uuid: b.uuid,
            ctransid: b.ctransid,
            parentUuid: b.sendParentUuid,
          },
        },
      );
      check.header = "matches";
      await stream.pipeTo(new WritableStream());
    }
    check.sha256 = manifest ? "verified" : "no manifest";
    check.ok = true;
  } catch (e) {
    if (_has(e, IntegrityError)) check.sha256 = "failed";
    if (e instanceof BtrfsError && e.code === "stream-mismatch") {
      check.header = "failed";
    }
    check.note = e instanceof Error ? e.message : String(e);
  }
  return check;
}

/** Whether `e` or an error in its cause chain is a `type`. */
function _has(e: unknown, type: new (...args: never[]) => Error): boolean {
  for (let cur = e, depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof type) return true;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return false;
}
