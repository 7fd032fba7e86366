/**
 * Checks of the names a config makes: each source's name (the last part of
 * its path) goes into every snapshot name and backup key, so a name that
 * cannot be written or read back, or that makes a name longer than the file
 * system or S3 allows, is refused before anything is made.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import type { Config, Remote } from "../../core/config_types.ts";
import { encodeKey, keyNameProblem } from "../../core/keys.ts";
import { snapshotName } from "../../core/snapshot_names.ts";
import { keySuffixes } from "../../drivers/pipe/stages.ts";
import { manifestKey } from "../../drivers/transfer/manifest.ts";
import type { ConfigProblem } from "./error.ts";

/** Longest file name on Linux file systems (btrfs, ext4, xfs), in bytes. */
export const MAX_FILE_NAME_BYTES = 255;
/** Longest S3 object key, in bytes. */
export const MAX_S3_KEY_BYTES = 1024;

// The longest values a key can carry: a ctransid up to 2^53, ten thousand
// objects of one backup, and a ctime whose zone offset is whole minutes.
const _LONGEST = {
  ctime: Temporal.Instant.from("2000-01-01T00:00:00Z"),
  ctransid: Number.MAX_SAFE_INTEGER,
  uuid: "ffffffff-ffff-ffff-ffff-ffffffffffff",
  seqn: 9999,
};

const _UTF8 = new TextEncoder();

function _bytes(s: string): number {
  return _UTF8.encode(s).length;
}

/** A name for a message: quoted, and cut short when long. */
function _quote(name: string): string {
  const bytes = _bytes(name);
  return bytes <= 64
    ? JSON.stringify(name)
    : `${JSON.stringify(name.slice(0, 32) + "…")} (${bytes} bytes)`;
}

/**
 * The name snapshots and keys of a source are made with: the last part of
 * its resolved path, as inventory derives it.
 *
 * @param path The source's path.
 * @returns Its name (`""` for `/`).
 */
export function sourceName(path: string): string {
  return basename(resolve(path));
}

/** The longest object (a backup's manifest) a source's upload writes to a remote, and its limit. */
function _longestObject(
  name: string,
  suffixes: string[],
  remote: Remote,
  timeZone: string,
): { bytes: number; limit: number; what: string } {
  const key = manifestKey(encodeKey({
    name,
    ctime: _LONGEST.ctime,
    ctransid: _LONGEST.ctransid,
    uuid: _LONGEST.uuid,
    sendParentUuid: _LONGEST.uuid,
    sourceUuid: _LONGEST.uuid,
    seqn: _LONGEST.seqn,
    suffixes,
  }, timeZone));
  if (remote.kind === "local") {
    return {
      bytes: _bytes(basename(key)),
      limit: MAX_FILE_NAME_BYTES,
      what: `file names in local remote ${JSON.stringify(remote.id)}`,
    };
  }
  return {
    bytes: _bytes((remote.prefix ?? "") + key),
    limit: MAX_S3_KEY_BYTES,
    what: `S3 keys in remote ${JSON.stringify(remote.id)} (prefix included)`,
  };
}

/** Problems of one source's name, or none. */
function _problems(
  config: Config,
  i: number,
): ConfigProblem[] {
  const source = config.sources[i];
  const at = ["sources", i, "path"];
  const name = sourceName(source.path);
  const fix =
    "back up a subvolume whose last path part is a plain short name, e.g. /data/web";
  if (name === "") {
    return [{
      path: at,
      message:
        `"/" has no name to make snapshot names and backup keys with; ${fix}`,
    }];
  }
  if (name.startsWith(".")) {
    return [{
      path: at,
      message: `the name ${
        _quote(name)
      } starts with a dot, and names starting with a dot are skipped in remotes (partial uploads); ${fix}`,
    }];
  }
  const keyProblem = keyNameProblem(name);
  if (keyProblem !== null) {
    return [{
      path: at,
      message: `the name ${
        _quote(name)
      } ${keyProblem}, which backup keys use for their own fields; ${fix}`,
    }];
  }
  const out: ConfigProblem[] = [];
  const snapshotBytes = _bytes(
    snapshotName(name, _LONGEST.ctime, _LONGEST.ctransid, config.timezone),
  );
  if (snapshotBytes > MAX_FILE_NAME_BYTES) {
    out.push({
      path: at,
      message: `the name ${
        _quote(name)
      } makes snapshot names of up to ${snapshotBytes} bytes, over the limit of ${MAX_FILE_NAME_BYTES} bytes for a file name; ${fix}`,
    });
  }
  source.upload.forEach((up, j) => {
    const remote = config.remotes.find((r) => r.id === up.remote);
    if (remote === undefined) return;
    const longest = _longestObject(
      name,
      keySuffixes(up.pipe),
      remote,
      config.timezone,
    );
    if (longest.bytes > longest.limit) {
      out.push({
        path: ["sources", i, "upload", j],
        message: `the name ${
          _quote(name)
        } makes ${longest.what} of up to ${longest.bytes} bytes, over the limit of ${longest.limit} bytes; ${fix}${
          remote.kind === "local" ? "" : ", or a shorter prefix"
        }`,
      });
    }
  });
  return out;
}

/**
 * Every problem of the names a validated config makes. Internal to
 * lib/app/config.
 *
 * @param config A config that passed the schema.
 * @returns The problems, in the order of the sources.
 */
export function nameProblems(config: Config): ConfigProblem[] {
  return config.sources.flatMap((_, i) => _problems(config, i));
}
