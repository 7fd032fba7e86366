/**
 * S3 Object Lock requests: a bucket's lock configuration, an object's
 * retention (read and set), and deletes that remove every version of a key,
 * so that nothing stays billed in a versioned (lock-enabled) bucket, where a
 * plain delete only adds a delete marker.
 *
 * @module
 */

import type { ObjectRetention } from "./cold_storage.ts";
import { NotFoundError, RemoteError } from "./errors.ts";
import type { S3Requests } from "./_s3_multipart.ts";

/** Whether the bucket has object lock enabled (GetObjectLockConfiguration). */
export async function objectLockEnabled(r: S3Requests): Promise<boolean> {
  try {
    const out = await r.command(
      "read the bucket's object lock configuration",
      (sdk) => new sdk.GetObjectLockConfigurationCommand({ Bucket: r.bucket }),
    );
    return out.ObjectLockConfiguration?.ObjectLockEnabled === "Enabled";
  } catch (e) {
    // AWS: ObjectLockConfigurationNotFoundError; others answer 404 alike.
    if (e instanceof RemoteError && e.status === 404) return false;
    throw e;
  }
}

/** The retention of `key`, null when it has none; NotFoundError when there is no object. */
export async function getRetention(
  r: S3Requests,
  key: string,
): Promise<ObjectRetention | null> {
  try {
    const out = await r.command(
      `read the retention of ${key}`,
      (sdk) => new sdk.GetObjectRetentionCommand(r.at(key)),
    );
    const mode = out.Retention?.Mode;
    const until = out.Retention?.RetainUntilDate;
    if ((mode !== "GOVERNANCE" && mode !== "COMPLIANCE") || !until) {
      return null;
    }
    return { mode, until: new Date(until) };
  } catch (e) {
    if (e instanceof RemoteError && e.status === 404) {
      if (e.code === "NoSuchKey") throw new NotFoundError(key, r.where);
      return null; // NoSuchObjectLockConfiguration: the object has none
    }
    throw e;
  }
}

/** Sets the retention of `key`; NotFoundError when there is no object. */
export async function putRetention(
  r: S3Requests,
  key: string,
  retention: ObjectRetention,
): Promise<void> {
  try {
    await r.command(
      `set the retention of ${key}`,
      (sdk) =>
        new sdk.PutObjectRetentionCommand({
          ...r.at(key),
          Retention: { Mode: retention.mode, RetainUntilDate: retention.until },
        }),
    );
  } catch (e) {
    if (e instanceof RemoteError && e.code === "NoSuchKey") {
      throw new NotFoundError(key, r.where);
    }
    throw e;
  }
}

/**
 * Deletes every version (and delete marker) of each key: ListObjectVersions,
 * then DeleteObjects by VersionId, 1000 at a time. A version still under
 * retention is refused by the store, and so fails the delete.
 */
export async function deleteAllVersions(
  r: S3Requests,
  fullKeys: readonly string[],
): Promise<void> {
  const versions: { Key: string; VersionId: string }[] = [];
  for (const key of fullKeys) versions.push(...await _versionsOf(r, key));
  for (let i = 0; i < versions.length; i += 1000) {
    const batch = versions.slice(i, i + 1000);
    const out = await r.command(
      `delete ${batch.length} object version${batch.length > 1 ? "s" : ""}`,
      (sdk) =>
        new sdk.DeleteObjectsCommand({
          Bucket: r.bucket,
          Delete: { Objects: batch, Quiet: true },
        }),
    );
    const errors = (out.Errors ?? []).filter((e) =>
      e.Code !== "NoSuchKey" && e.Code !== "NoSuchVersion"
    );
    if (errors.length) {
      const e = errors[0];
      throw new RemoteError(
        `delete (${r.where}): ${errors.length} object version(s) not deleted, first ${e.Key} version ${e.VersionId}: ${e.Code}: ${e.Message}` +
          (e.Code === "AccessDenied"
            ? " (an object lock retention that has not ended refuses it)"
            : ""),
        { code: e.Code ?? "DeleteFailed", transient: false },
      );
    }
  }
}

/** Every version and delete marker of exactly `fullKey`. */
async function _versionsOf(
  r: S3Requests,
  fullKey: string,
): Promise<{ Key: string; VersionId: string }[]> {
  const out: { Key: string; VersionId: string }[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await r.command(
      `list the versions of ${fullKey}`,
      (sdk) =>
        new sdk.ListObjectVersionsCommand({
          Bucket: r.bucket,
          Prefix: fullKey,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
    );
    for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
      if (v.Key === fullKey && v.VersionId) {
        out.push({ Key: v.Key, VersionId: v.VersionId });
      }
    }
    if (!page.IsTruncated) return out;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}
