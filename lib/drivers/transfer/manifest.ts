/**
 * Backup manifests: the SHA-256 and sizes of a backup's objects, written
 * before its objects complete (see `upload.ts`), so a later verify or
 * restore can check the bytes.
 *
 * A backup sent to S3 as one PutObject has no manifest file: its SHA-256
 * travels in the object's own metadata (`x-amz-meta-snap2s3-sha256`), stored
 * atomically with it, and {@linkcode readManifest} reads it from there.
 *
 * The manifest key `snap2s3-manifests/<seqn0 key, "." replaced by "_">.json`
 * has no `.`-separated metadata, so btrfs2s3's key parser never takes it for
 * a backup.
 *
 * @module
 */

import { MANIFEST_PREFIX } from "../../core/keys.ts";
import type { Remote, RemoteObject } from "../remote/remote.ts";
import { NotFoundError } from "../remote/errors.ts";
import { type RetryOptions, retryPolicy, withRetry } from "../remote/retry.ts";

/** Folder (key prefix) of manifests, relative to the remote's prefix. */
export { MANIFEST_PREFIX };

/** What a manifest records. */
export interface Manifest {
  /** The backup's first (`.seqn0`) key. */
  key: string;
  /** Every object of the backup, in order. */
  objects: { key: string; size: number }[];
  /** Total bytes of the stream. */
  size: number;
  /** Hex SHA-256 of the whole stream (all objects concatenated). */
  sha256: string;
}

/** User metadata name of a one-object backup's SHA-256 (`x-amz-meta-snap2s3-sha256`). */
export const SHA256_METADATA = "snap2s3-sha256";

/**
 * The manifest a one-object backup carries in its own metadata (see
 * {@linkcode SHA256_METADATA}), from a HEAD of the object; null when it
 * carries none.
 */
export function metadataManifest(
  remote: Remote,
  head: RemoteObject,
): Manifest | null {
  const sha256 = head.metadata?.[SHA256_METADATA];
  if (sha256 === undefined) return null;
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    throw new Error(
      `object ${head.key} in remote ${remote.id} has a malformed ${SHA256_METADATA} metadata ${
        JSON.stringify(sha256)
      } (expected 64 hex digits); restore it with verification turned off`,
    );
  }
  return {
    key: head.key,
    objects: [{ key: head.key, size: head.size }],
    size: head.size,
    sha256,
  };
}

/** The manifest key of a backup's `.seqn0` key. */
export function manifestKey(key: string): string {
  return `${MANIFEST_PREFIX}${key.replaceAll(".", "_")}.json`;
}

const _SEQN = /\.seqn(\d+)(?=\.|$)/;

/**
 * The key of object `n` of a backup, from its `.seqn0` key: the `.seqn0`
 * suffix (wherever it stands among the suffixes) becomes `.seqn<n>`.
 */
export function seqnKey(key: string, n: number): string {
  const m = key.match(_SEQN);
  if (!m || m[1] !== "0") {
    if (n === 0) return key;
    throw new Error(
      `key ${
        JSON.stringify(key)
      } has no .seqn0 suffix, so it cannot be split into several objects; pass the backup's .seqn0 key`,
    );
  }
  return key.replace(_SEQN, `.seqn${n}`);
}

/** Writes a backup's manifest (JSON). */
export async function writeManifest(
  remote: Remote,
  manifest: Manifest,
): Promise<void> {
  const body = new TextEncoder().encode(
    JSON.stringify({ version: 1, ...manifest }, null, 1) + "\n",
  );
  await remote.put(manifestKey(manifest.key), body, {
    contentType: "application/json",
  });
}

/**
 * Reads a backup's manifest: on a remote with object metadata, first from
 * the first object's own metadata (a HEAD, or `head` when the caller made
 * it already), then from its manifest file; null when it has neither (e.g.
 * written by btrfs2s3).
 */
export async function readManifest(
  remote: Remote,
  key: string,
  retry?: RetryOptions,
  signal?: AbortSignal,
  head?: RemoteObject | null,
): Promise<Manifest | null> {
  if (remote.objectMetadata) {
    const h = head === undefined ? await remote.head(key, { signal }) : head;
    const inline = h && metadataManifest(remote, h);
    if (inline) return inline;
  }
  // The body can break after the answer started: retry the read as a whole.
  const text = await withRetry(
    `read manifest ${manifestKey(key)}`,
    async () => {
      let stream: ReadableStream<Uint8Array>;
      try {
        stream = await remote.get(manifestKey(key), { signal });
      } catch (e) {
        if (e instanceof NotFoundError) return null;
        throw e;
      }
      return await new Response(stream).text();
    },
    retryPolicy(retry),
    { signal },
  );
  if (text === null) return null;
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text);
  } catch {
    throw new Error(
      `manifest ${
        manifestKey(key)
      } in remote ${remote.id} is not JSON; delete it to restore without a check`,
    );
  }
  if (
    m.key !== key || !Array.isArray(m.objects) ||
    typeof m.size !== "number" || typeof m.sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(m.sha256) ||
    m.objects.some((o) =>
      typeof o?.key !== "string" || typeof o?.size !== "number"
    )
  ) {
    throw new Error(
      `manifest ${
        manifestKey(key)
      } in remote ${remote.id} is malformed (expected {key: ${
        JSON.stringify(key)
      }, objects, size, sha256}); delete it to restore without a check`,
    );
  }
  return {
    key: m.key,
    objects: m.objects.map((o) => ({ key: o.key, size: o.size })),
    size: m.size,
    sha256: m.sha256,
  };
}

/**
 * Deletes a backup: its objects and its manifest. `keys` are the backup's
 * object keys in `.seqn` order (the first is the `.seqn0` key).
 */
export async function deleteBackup(
  remote: Remote,
  keys: string[],
): Promise<void> {
  if (keys.length === 0) return;
  // Objects first: a manifest without objects is harmless, the reverse would
  // leave a backup that can no longer be verified.
  await remote.delete(keys);
  await remote.delete([manifestKey(keys[0])]);
}

/** How old a manifest without its backup must be before it counts as left over (an upload completes its objects right after writing it). */
export const ORPHAN_MANIFEST_AGE_MS = 60 * 60_000;

/**
 * Manifests whose backup is absent: an upload killed between writing its
 * manifest and completing its objects leaves one. `listed` are the keys at
 * the remote's level; a manifest younger than
 * {@linkcode ORPHAN_MANIFEST_AGE_MS} may belong to an upload finishing now
 * and is left alone.
 */
export async function orphanManifests(
  remote: Remote,
  listed: Iterable<string>,
  now: Date = new Date(),
): Promise<string[]> {
  const wanted = new Set([...listed].map(manifestKey));
  const orphans: string[] = [];
  for await (const o of remote.listLevel(MANIFEST_PREFIX)) {
    if (!o.key.endsWith(".json") || wanted.has(o.key)) continue;
    const age = o.lastModified ? now.getTime() - o.lastModified.getTime() : 0;
    if (age >= ORPHAN_MANIFEST_AGE_MS) orphans.push(o.key);
  }
  return orphans;
}
