/**
 * Object lock in the app: the check that a bucket can lock before anything
 * is planned, the retention of each backup read for the planner, and the
 * retention set on every object of a backup (and its manifest) once it is
 * stored, read back to make sure the store kept it.
 *
 * @module
 */

import type { Config, ObjectLock } from "../core/config_types.ts";
import type { Retention } from "../core/plan/plan.ts";
import type { BackupInfo } from "../core/types.ts";
import type { ObjectRetention } from "../drivers/remote/cold_storage.ts";
import { NotFoundError } from "../drivers/remote/errors.ts";
import type { Remote } from "../drivers/remote/remote.ts";
import { manifestKey } from "../drivers/transfer/manifest.ts";
import { ConfigError } from "./config/error.ts";
import type { RemoteSet } from "./remotes.ts";

/**
 * Refuses (exit 2) when a remote some source uploads to asks for object lock
 * and its bucket does not have it enabled.
 *
 * @param config The validated config.
 * @param remotes Its remotes.
 * @throws {ConfigError} Naming `remotes[i].objectLock` and the fix.
 */
export async function checkObjectLock(
  config: Config,
  remotes: RemoteSet,
): Promise<void> {
  const used = new Set(
    config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
  );
  const problems = [];
  for (const [i, r] of config.remotes.entries()) {
    if (r.kind === "local" || !r.objectLock || !used.has(r.id)) continue;
    const cold = remotes.get(r.id).cold;
    if (cold && await cold.objectLockEnabled()) continue;
    problems.push({
      path: ["remotes", i, "objectLock"],
      message: `bucket ${
        JSON.stringify(r.bucket)
      } does not have object lock enabled, so nothing can be retained; create the bucket with object lock (aws s3api create-bucket --object-lock-enabled-for-bucket), enable it on the versioned bucket (aws s3api put-object-lock-configuration), or remove objectLock`,
    });
  }
  if (problems.length) throw new ConfigError(problems);
}

/**
 * The backups with the retention of their first object read (a few requests at a time).
 *
 * @param remote The remote.
 * @param backups Its backups.
 * @returns Copies with `retainUntil` set where the object has a retention.
 */
export async function readRetentions(
  remote: Remote,
  backups: readonly BackupInfo[],
): Promise<BackupInfo[]> {
  const cold = remote.cold;
  if (!cold) return [...backups];
  const out: BackupInfo[] = new Array(backups.length);
  let next = 0;
  const worker = async () => {
    while (next < backups.length) {
      const i = next++;
      const b = backups[i];
      const r = await cold.getRetention(b.keys[0]).catch((e) => {
        if (e instanceof NotFoundError) return null;
        throw e;
      });
      out[i] = r
        ? {
          ...b,
          retainUntil: Temporal.Instant.fromEpochMilliseconds(
            r.until.getTime(),
          ),
        }
        : b;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}

/**
 * Retains every object of a backup and its manifest until `retention.until`:
 * each retention is read, set where it is missing or ends sooner (a
 * COMPLIANCE one stays COMPLIANCE), and read back. The first object comes
 * last, so when it shows the retention (which is what the next run reads),
 * so do the others. A missing manifest (btrfs2s3's backups have none) is
 * skipped.
 *
 * @param remote The remote.
 * @param keys The backup's object keys, `.seqn0` first.
 * @param retention The mode and end.
 * @returns How many objects got a new retention.
 * @throws When the store does not keep the retention it was given.
 */
export async function retainBackup(
  remote: Remote,
  keys: readonly string[],
  retention: Retention,
): Promise<number> {
  const cold = remote.cold;
  if (!cold) {
    throw new Error(
      `remote ${remote.id} has no object lock; remove objectLock from its config`,
    );
  }
  const until = new Date(retention.until.epochMilliseconds);
  const order = [manifestKey(keys[0]), ...keys.slice(1).reverse(), keys[0]];
  let set = 0;
  for (const key of order) {
    const optional = key === order[0];
    let current: ObjectRetention | null;
    try {
      current = await cold.getRetention(key);
    } catch (e) {
      if (optional && e instanceof NotFoundError) continue;
      throw e;
    }
    if (current && current.until.getTime() >= until.getTime()) continue;
    const mode: ObjectLock["mode"] = current?.mode === "COMPLIANCE"
      ? "COMPLIANCE"
      : retention.mode;
    await cold.setRetention(key, { mode, until });
    const after = await cold.getRetention(key);
    if (!after || after.until.getTime() < until.getTime()) {
      throw new Error(
        `remote ${remote.id}: ${key} was given ${mode} retention until ${until.toISOString()}, but the store reports ${
          after ? `${after.mode} until ${after.until.toISOString()}` : "none"
        }; the bucket does not keep object lock retention`,
      );
    }
    set++;
  }
  return set;
}
