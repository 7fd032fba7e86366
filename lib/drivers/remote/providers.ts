/**
 * S3 provider presets and their quirks: limits, endpoint shape, which part
 * checksum the server verifies, and whether the SDK's default checksums may
 * be used.
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import { DEFAULT_MEMORY, fitMemory } from "./memory_budget.ts";
import type { RemoteLimits } from "./remote.ts";

/** S3-compatible providers with a preset. `custom` covers MinIO, Ceph and the rest. */
export type Provider = "aws" | "r2" | "b2" | "custom";

/** How parts carry the checksum the server verifies (see {@linkcode ProviderPreset.checksum}). */
export type PartChecksum = "sha256" | "md5" | "signed-sha256";

/** What a provider preset fixes. */
export interface ProviderPreset {
  /** The provider this preset is for. */
  provider: Provider;
  /** Human name for messages. */
  title: string;
  /** Upload limits and defaults. */
  limits: RemoteLimits;
  /**
   * Per-part checksum the server verifies: `sha256` (x-amz-checksum-sha256),
   * `md5` (Content-MD5, which every S3 implementation checks) or
   * `signed-sha256` (the part's SHA-256 as the SigV4-signed
   * x-amz-content-sha256, which every SigV4 server checks the body against;
   * Ceph 16 does not know the newer checksum headers, and SHA-256 costs less
   * CPU than MD5).
   */
  checksum: PartChecksum;
  /** True for AWS itself: the SDK's default checksum behaviour is safe there. */
  isAws: boolean;
  /** Default region when none is configured. */
  defaultRegion: string;
  /** Whether path-style addressing is the default. */
  forcePathStyle: boolean;
}

const _GiB = 1024 * MiB;
const _TiB = 1024 * _GiB;

/** Limits with the part size and concurrency that fill the default memory budget. */
function _fitted(
  l: Omit<RemoteLimits, "partSize" | "concurrency" | "memory">,
): RemoteLimits {
  return { ...l, ...fitMemory(DEFAULT_MEMORY, l), memory: DEFAULT_MEMORY };
}

const _base: RemoteLimits = _fitted({
  maxObjectSize: 5 * _TiB,
  maxParts: 10_000,
  minPartSize: 5 * MiB,
  maxPartSize: 5 * _GiB,
  equalParts: false,
});

const _presets: Record<Provider, ProviderPreset> = {
  aws: {
    provider: "aws",
    title: "AWS S3",
    limits: { ..._base },
    checksum: "sha256",
    isAws: true,
    defaultRegion: "us-east-1",
    forcePathStyle: false,
  },
  r2: {
    provider: "r2",
    title: "Cloudflare R2",
    // R2 wants every part but the last the same size, so part sizes cannot
    // grow: the default budget's 26 MiB parts reach 254 GiB per object,
    // and longer streams continue in `.seqn1`, `.seqn2`, ... objects.
    limits: _fitted({
      ..._base,
      maxObjectSize: Math.floor(4.995 * _TiB),
      equalParts: true,
    }),
    checksum: "md5",
    isAws: false,
    defaultRegion: "auto",
    forcePathStyle: false,
  },
  b2: {
    provider: "b2",
    title: "Backblaze B2",
    limits: { ..._base, maxObjectSize: 10_000_000_000_000 },
    checksum: "md5",
    isAws: false,
    defaultRegion: "us-west-004",
    forcePathStyle: false,
  },
  custom: {
    provider: "custom",
    title: "S3-compatible endpoint",
    limits: { ..._base },
    checksum: "signed-sha256",
    isAws: false,
    defaultRegion: "us-east-1",
    forcePathStyle: true,
  },
};

/** The preset of a provider. */
export function providerPreset(provider: Provider): ProviderPreset {
  const p = _presets[provider];
  if (!p) {
    throw new Error(
      `unknown S3 provider ${
        JSON.stringify(provider)
      }: use one of aws, r2, b2, custom`,
    );
  }
  return { ...p, limits: { ...p.limits } };
}

/** Endpoint URL of Cloudflare R2 for an account id. */
export function r2Endpoint(accountId: string): string {
  if (!/^[0-9a-f]{32}$/i.test(accountId)) {
    throw new Error(
      `Cloudflare R2 account id ${
        JSON.stringify(accountId)
      } is not 32 hex digits: copy it from the R2 dashboard`,
    );
  }
  return `https://${accountId.toLowerCase()}.r2.cloudflarestorage.com`;
}

/** Endpoint URL of Backblaze B2's S3 API for a region such as `us-west-004`. */
export function b2Endpoint(region: string): string {
  if (!/^[a-z]+-[a-z]+-\d{3}$/.test(region)) {
    throw new Error(
      `Backblaze B2 region ${
        JSON.stringify(region)
      } does not look like us-west-004: copy it from the bucket's endpoint`,
    );
  }
  return `https://s3.${region}.backblazeb2.com`;
}
