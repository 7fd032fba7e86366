/**
 * Opening the configured remotes and reading their listings, once per remote.
 *
 * @module
 */

import { MiB } from "../core/format.ts";
import type { Remote as RemoteConfig } from "../core/config_types.ts";
import { groupListing, type ListingGroups } from "../core/keys.ts";
import { localDirRemote } from "../drivers/remote/local_dir.ts";
import type { Remote } from "../drivers/remote/remote.ts";
import { s3Remote } from "../drivers/remote/s3.ts";

/** Opens one configured remote (the S3 SDK loads on its first request). */
export function openRemote(config: RemoteConfig): Remote {
  if (config.kind === "local") {
    return localDirRemote({ id: config.id, path: config.path });
  }
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
  });
}

/** The remotes of a config by id, opened lazily and listed at most once. */
export class RemoteSet {
  readonly #configs: Map<string, RemoteConfig>;
  readonly #open = new Map<string, Remote>();
  readonly #listings = new Map<string, Promise<ListingGroups>>();

  constructor(configs: readonly RemoteConfig[]) {
    this.#configs = new Map(configs.map((r) => [r.id, r]));
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
    remote = openRemote(config);
    this.#open.set(id, remote);
    return remote;
  }

  /** The remote's whole listing, sorted into backups, foreign keys and incomplete backups. */
  listing(id: string): Promise<ListingGroups> {
    let listing = this.#listings.get(id);
    if (!listing) {
      const remote = this.get(id);
      listing = (async () =>
        groupListing(await Array.fromAsync(remote.list())))();
      this.#listings.set(id, listing);
    }
    return listing;
  }

  /** Closes every opened remote. */
  close(): void {
    for (const r of this.#open.values()) r.close();
    this.#open.clear();
  }
}
