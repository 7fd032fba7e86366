/**
 * Opening the configured remotes and reading their listings, once per remote.
 *
 * @module
 */

import { MiB } from "../core/format.ts";
import type { Remote as RemoteConfig } from "../core/config_types.ts";
import {
  groupListing,
  type ListedObject,
  type ListingGroups,
} from "../core/keys.ts";
import { localDirRemote } from "../drivers/remote/local_dir.ts";
import type { Remote } from "../drivers/remote/remote.ts";
import type { RetryInfo } from "../drivers/remote/retry.ts";
import { s3Remote } from "../drivers/remote/s3.ts";
import { TokenBucket } from "../drivers/transfer/bandwidth.ts";
import { parseRate } from "../core/rate.ts";

/**
 * Opens remote `id` of `config`, reads its listing and runs `fn` with both;
 * the remote is closed afterwards, whatever `fn` did.
 *
 * @param config The config, for its remotes.
 * @param id The remote's id; unknown ids throw naming the defined ones.
 * @param fn What to do with the remote and its listing.
 * @returns What `fn` returns.
 */
export async function withListing<T>(
  config: { readonly remotes: readonly RemoteConfig[] },
  id: string,
  fn: (remote: Remote, listing: ListingGroups) => Promise<T>,
): Promise<T> {
  const remotes = new RemoteSet(config.remotes);
  try {
    return await fn(remotes.get(id), await remotes.listing(id));
  } finally {
    remotes.close();
  }
}

/** Options of {@linkcode openRemote} and {@linkcode RemoteSet}. */
export interface OpenRemoteOptions {
  /** Told before each retry of a request (S3 remotes; a local directory does not retry). */
  onRetry?: (remoteId: string, info: RetryInfo) => void;
  /** Bandwidth limit in bytes per second of every S3 remote, over its own `bandwidth` (`--bwlimit`). */
  bandwidth?: number;
}

/** The bandwidth limit of a remote (the override first), bytes per second; undefined for none. */
export function bandwidthOf(
  config: RemoteConfig,
  override?: number,
): number | undefined {
  if (override !== undefined) return override;
  if (config.kind === "local" || config.bandwidth === undefined) {
    return undefined;
  }
  return parseRate(config.bandwidth) ?? undefined;
}

/** Opens one configured remote (the S3 SDK loads on its first request). */
export function openRemote(
  config: RemoteConfig,
  options: OpenRemoteOptions = {},
): Remote {
  const onRetry = options.onRetry;
  if (config.kind === "local") {
    return localDirRemote({ id: config.id, path: config.path });
  }
  const rate = bandwidthOf(config, options.bandwidth);
  return s3Remote({
    id: config.id,
    bucket: config.bucket,
    provider: config.kind === "s3"
      ? (config.endpoint ? "custom" : "aws")
      : config.kind,
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.pathStyle,
    prefix: config.prefix,
    profile: config.profile,
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
    verifyTls: config.verifyTls,
    caBundle: config.caBundle,
    storageClass: config.storageClass,
    partSize: config.partSizeMiB === undefined
      ? undefined
      : config.partSizeMiB * MiB,
    concurrency: config.concurrency,
    memory: config.memoryMiB === undefined ? undefined : config.memoryMiB * MiB,
    // One bucket per direction: most uplinks and downlinks are separate.
    pacers: rate === undefined
      ? undefined
      : { upload: new TokenBucket(rate), download: new TokenBucket(rate) },
    // A lock-enabled bucket keeps versions: deletes must remove them. AWS
    // wants Content-MD5 on every upload to a bucket with lock retention.
    versioned: config.objectLock !== undefined,
    checksum: config.objectLock ? "md5" : undefined,
    retry: onRetry
      ? { onRetry: (info) => onRetry(config.id, info) }
      : undefined,
  });
}

/**
 * One log line about a retry: which remote and request, the attempt, the
 * reason and the wait.
 *
 * @param remoteId The remote's id.
 * @param info What the retry policy told.
 * @returns E.g. `retry usb: put k: attempt 1 failed (ECONNRESET: ...); next in 0.2 s`.
 */
export function describeRetry(remoteId: string, info: RetryInfo): string {
  const e = info.error;
  const reason = e instanceof Error
    ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message.split("\n")[0]}`
    : String(e);
  return `retry ${remoteId}: ${info.what}: attempt ${info.attempt} failed (${reason}); next in ${
    (info.delayMs / 1000).toFixed(1)
  } s`;
}

/**
 * The remotes of a config by id, opened lazily and listed at most once. The
 * listings are kept: a long-running caller records its own uploads and
 * deletes in them ({@linkcode RemoteSet.noteStored},
 * {@linkcode RemoteSet.noteDeleted}) and forgets them to list afresh.
 */
export class RemoteSet {
  readonly #configs: Map<string, RemoteConfig>;
  readonly #open = new Map<string, Remote>();
  readonly #objects = new Map<string, Promise<ListedObject[]>>();
  readonly #groups = new Map<string, Promise<ListingGroups>>();
  readonly #options: OpenRemoteOptions;
  #listCalls = 0;

  /**
   * @param configs The config's remotes.
   * @param options Passed to {@linkcode openRemote}.
   */
  constructor(
    configs: readonly RemoteConfig[],
    options: OpenRemoteOptions = {},
  ) {
    this.#configs = new Map(configs.map((r) => [r.id, r]));
    this.#options = options;
  }

  /** How many full listings were read from the remotes so far. */
  get listCalls(): number {
    return this.#listCalls;
  }

  /** The remote with this id; throws naming the defined ids when there is none. */
  get(id: string): Remote {
    let remote = this.#open.get(id);
    if (remote) return remote;
    const config = this.#configs.get(id);
    if (!config) {
      throw new Error(
        `unknown remote id ${JSON.stringify(id)}; defined: ${
          [...this.#configs.keys()].join(", ")
        }`,
      );
    }
    remote = openRemote(config, this.#options);
    this.#open.set(id, remote);
    return remote;
  }

  /** The bandwidth limit of remote `id` in bytes per second (the override first); undefined for none. */
  bandwidth(id: string): number | undefined {
    const config = this.#configs.get(id);
    return config ? bandwidthOf(config, this.#options.bandwidth) : undefined;
  }

  /** Forgets the listings read so far: the next {@link listing} reads the remote again. */
  forgetListings(): void {
    this.#objects.clear();
    this.#groups.clear();
  }

  /**
   * The remote's listing at its own level (deeper keys and dot names are not
   * ours), sorted into backups, foreign keys and incomplete backups.
   */
  listing(id: string): Promise<ListingGroups> {
    let groups = this.#groups.get(id);
    if (!groups) {
      groups = this.#objectsOf(id).then(groupListing);
      this.#groups.set(id, groups);
    }
    return groups;
  }

  /**
   * Records objects stored in the remote (a backup just uploaded) in its
   * kept listing, if one was read.
   *
   * @param id The remote's id.
   * @param objects The objects, keys relative to the remote's prefix.
   */
  noteStored(id: string, objects: readonly ListedObject[]): void {
    this.#patch(id, (list) => {
      const keys = new Set(objects.map((o) => o.key));
      return [...list.filter((o) => !keys.has(o.key)), ...objects];
    });
  }

  /**
   * Records objects deleted from the remote in its kept listing, if one was read.
   *
   * @param id The remote's id.
   * @param keys The keys deleted.
   */
  noteDeleted(id: string, keys: readonly string[]): void {
    const gone = new Set(keys);
    this.#patch(id, (list) => list.filter((o) => !gone.has(o.key)));
  }

  /** Closes every opened remote. */
  close(): void {
    for (const r of this.#open.values()) r.close();
    this.#open.clear();
  }

  #objectsOf(id: string): Promise<ListedObject[]> {
    let objects = this.#objects.get(id);
    if (!objects) {
      const remote = this.get(id);
      this.#listCalls++;
      objects = Array.fromAsync(remote.listLevel());
      // A failed listing is not kept: the next call tries again.
      objects.catch(() => {
        if (this.#objects.get(id) === objects) {
          this.#objects.delete(id);
          this.#groups.delete(id);
        }
      });
      this.#objects.set(id, objects);
    }
    return objects;
  }

  #patch(id: string, change: (list: ListedObject[]) => ListedObject[]): void {
    const objects = this.#objects.get(id);
    if (!objects) return;
    const patched = objects.then(change);
    this.#objects.set(id, patched);
    this.#groups.delete(id);
  }
}
