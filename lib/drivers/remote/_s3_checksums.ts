/**
 * The checksums S3 requests carry and the checks of what the store answers:
 * every body goes with a checksum the server verifies (Content-MD5,
 * x-amz-checksum-sha256, or its SHA-256 as the signed x-amz-content-sha256),
 * and ETags and composite checksums are compared with what was sent.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { RemoteError } from "./errors.ts";
import type { PartChecksum } from "./providers.ts";
import type { Checksums, PartReceipt } from "./remote.ts";

/** The checksum of one body, in the forms a request and its check need. */
export interface BodyChecksum {
  /** Fields of the PutObject or UploadPart input: the body, its length and its checksum. */
  fields: {
    Body: Uint8Array;
    ContentLength: number;
    ContentMD5?: string;
    ChecksumSHA256?: string;
  };
  /**
   * The x-amz-content-sha256 to sign: the body's SHA-256 (hex), or
   * UNSIGNED-PAYLOAD when a checksum field carries the check (the signer then
   * does not hash the body on the main thread).
   */
  hash: string;
  /** Hex MD5 of the body, when one was sent (an MD5-shaped ETag must equal it). */
  md5?: string;
}

/** The checksum of `data` the way `mode` sends it; `given` digests spare computing them. */
export function bodyChecksum(
  mode: PartChecksum,
  data: Uint8Array,
  given?: Checksums,
): BodyChecksum {
  const body = { Body: data, ContentLength: data.length };
  if (mode === "md5") {
    const b = Buffer.from(
      given?.md5 ?? createHash("md5").update(data).digest(),
    );
    return {
      fields: { ...body, ContentMD5: b.toString("base64") },
      hash: "UNSIGNED-PAYLOAD",
      md5: b.toString("hex"),
    };
  }
  const sha = Buffer.from(
    given?.sha256 ?? createHash("sha256").update(data).digest(),
  );
  if (mode === "sha256") {
    return {
      fields: { ...body, ChecksumSHA256: sha.toString("base64") },
      hash: "UNSIGNED-PAYLOAD",
    };
  }
  return { fields: body, hash: sha.toString("hex") };
}

/**
 * A middleware that makes the signer use `payloadHash` as
 * x-amz-content-sha256; add it to one command's stack at
 * {@linkcode PAYLOAD_HASH_STEP}.
 */
export function payloadHash(
  payloadHash: string,
): <A extends { request: unknown }, R>(
  next: (args: A) => Promise<R>,
) => (args: A) => Promise<R> {
  return (next) => (args) => {
    const h = (args.request as { headers?: Record<string, string> }).headers;
    if (h) h["x-amz-content-sha256"] = payloadHash;
    return next(args);
  };
}

/** Where {@linkcode payloadHash} goes: before signing. */
export const PAYLOAD_HASH_STEP = {
  step: "build",
  name: "snap2s3PayloadHash",
} as const;

/** Throws when the store's ETag is an MD5 other than the `md5` of what was sent. */
export function checkEtag(
  what: string,
  etag: string | undefined,
  md5: string | undefined,
): void {
  if (md5 && etag && /^[0-9a-f]{32}$/.test(etag) && etag !== md5) {
    throw new RemoteError(
      `${what}: the store's ETag ${etag} is not the MD5 ${md5} of what was sent`,
      { code: "ETagMismatch", transient: false },
    );
  }
}

/** Checks a completed object's ETag / composite checksum against the parts sent. */
export function checkComposite(
  what: string,
  parts: PartReceipt[],
  etag: string | undefined,
  checksum: string | undefined,
): void {
  const n = parts.length;
  if (parts.every((p) => p.md5) && etag && /^[0-9a-f]{32}-\d+$/.test(etag)) {
    const want = `${_digestOf("md5", parts.map((p) => p.md5!), "hex")}-${n}`;
    if (etag !== want) {
      throw new RemoteError(
        `${what}: the object's ETag ${etag} does not match the ${n} parts sent (${want})`,
        { code: "ETagMismatch", transient: false },
      );
    }
  }
  if (parts.every((p) => p.checksumSha256) && checksum) {
    const sums = parts.map((p) => p.checksumSha256!);
    const want = `${_digestOf("sha256", sums, "base64")}-${n}`;
    if (checksum !== want && checksum.split("-")[0] !== want.split("-")[0]) {
      throw new RemoteError(
        `${what}: the object's SHA-256 checksum ${checksum} does not match the ${n} parts sent (${want})`,
        { code: "ChecksumMismatch", transient: false },
      );
    }
  }
}

/** The digest of the concatenated part digests (given and returned in `encoding`). */
function _digestOf(
  alg: "md5" | "sha256",
  digests: string[],
  encoding: "hex" | "base64",
): string {
  const h = createHash(alg);
  for (const d of digests) h.update(Buffer.from(d, encoding));
  return h.digest(encoding);
}
