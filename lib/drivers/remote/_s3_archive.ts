/**
 * The {@linkcode ColdStorage} of an S3 bucket: object lock (see
 * _s3_retention.ts) and archived objects. On AWS a GET of a GLACIER or
 * DEEP_ARCHIVE object answers 403 InvalidObjectState until a `POST ?restore`
 * completes; HEAD then carries `x-amz-restore: ongoing-request="false",
 * expiry-date="..."`, and a repeated request while one is under way answers
 * 409 RestoreAlreadyInProgress. Stores whose archive classes read at once
 * (Ceph RGW's placement targets) need none of it, which a one-byte read
 * tells.
 *
 * @module
 */

import type {
  ArchiveStatus,
  ColdStorage,
  ObjectRetention,
  RestoreTier,
} from "./cold_storage.ts";
import { NotFoundError, RemoteError } from "./errors.ts";
import type { S3Requests } from "./_s3_multipart.ts";
import {
  getRetention,
  objectLockEnabled,
  putRetention,
} from "./_s3_retention.ts";
import { toWebStream } from "./_web_stream.ts";

/**
 * The cold storage operations of an S3 remote.
 *
 * @param r The remote's request runner.
 * @returns Its {@linkcode ColdStorage}.
 */
export function s3ColdStorage(r: S3Requests): ColdStorage {
  return {
    objectLockEnabled: () => objectLockEnabled(r),
    getRetention: (key) => getRetention(r, key),
    setRetention: (key, retention: ObjectRetention) =>
      putRetention(r, key, retention),
    archiveStatus: (key) => _status(r, key),
    readable: (key) => _readable(r, key),
    requestRestore: (key, options) => _requestRestore(r, key, options),
  };
}

/**
 * `x-amz-restore` as a status: `ongoing-request="true"` is under way,
 * `ongoing-request="false", expiry-date="..."` is ready.
 *
 * @param header The header's value, if any.
 * @returns The retrieval status and the copy's expiry.
 */
export function parseRestoreHeader(
  header: string | undefined,
): Pick<ArchiveStatus, "restore" | "restoreExpiry"> {
  if (!header) return { restore: "none" };
  const ongoing = /ongoing-request\s*=\s*"?(true|false)"?/i.exec(header);
  if (!ongoing) return { restore: "none" };
  if (ongoing[1].toLowerCase() === "true") return { restore: "ongoing" };
  const expiry = /expiry-date\s*=\s*"([^"]+)"/i.exec(header);
  const date = expiry ? new Date(expiry[1]) : undefined;
  return date && !Number.isNaN(date.getTime())
    ? { restore: "ready", restoreExpiry: date }
    : { restore: "ready" };
}

async function _status(r: S3Requests, key: string): Promise<ArchiveStatus> {
  try {
    const out = await r.command(
      `head ${key}`,
      (sdk) => new sdk.HeadObjectCommand(r.at(key)),
    );
    return {
      size: out.ContentLength ?? 0,
      ...(out.StorageClass ? { storageClass: out.StorageClass } : {}),
      ...parseRestoreHeader(out.Restore),
    };
  } catch (e) {
    if (e instanceof RemoteError && e.status === 404) {
      throw new NotFoundError(key, r.where);
    }
    throw e;
  }
}

async function _readable(r: S3Requests, key: string): Promise<boolean> {
  try {
    const out = await r.command(
      `read the first byte of ${key}`,
      (sdk) => new sdk.GetObjectCommand({ ...r.at(key), Range: "bytes=0-0" }),
    );
    await toWebStream(out.Body).cancel();
    return true;
  } catch (e) {
    if (e instanceof RemoteError) {
      if (e.code === "InvalidObjectState") return false;
      // An empty object has no first byte, but it can be read.
      if (e.status === 416) return true;
      if (e.status === 404) throw new NotFoundError(key, r.where);
    }
    throw e;
  }
}

async function _requestRestore(
  r: S3Requests,
  key: string,
  options: { days: number; tier: RestoreTier },
): Promise<"requested" | "in-progress" | "ready"> {
  try {
    const out = await r.command(
      `request the retrieval of ${key}`,
      (sdk) =>
        new sdk.RestoreObjectCommand({
          ...r.at(key),
          RestoreRequest: {
            Days: options.days,
            GlacierJobParameters: { Tier: options.tier },
          },
        }),
    );
    // 202: accepted now; 200: a retrieved copy exists (its days are renewed).
    return out.$metadata.httpStatusCode === 200 ? "ready" : "requested";
  } catch (e) {
    if (e instanceof RemoteError) {
      if (e.code === "RestoreAlreadyInProgress") return "in-progress";
      if (e.status === 404) throw new NotFoundError(key, r.where);
    }
    throw e;
  }
}
