/**
 * Multipart uploads on S3: start (aborting an upload a lost answer may have
 * opened), parts with their checksums, complete (checked against the parts
 * sent, and recognised when a retried complete finds it already done), and
 * abort.
 *
 * @module
 */

import type { S3Context } from "./_s3_client.ts";
import type { S3Command, S3Input, S3Output, S3Sdk } from "./_sdk.ts";
import {
  bodyChecksum,
  checkComposite,
  checkEtag,
  PAYLOAD_HASH_STEP,
  payloadHash,
} from "./_s3_checksums.ts";
import { RemoteError } from "./errors.ts";
import type { PartChecksum } from "./providers.ts";
import type {
  Checksums,
  CompletedObject,
  PartReceipt,
  PutOptions,
  ResumedUpload,
} from "./remote.ts";

/** What a multipart upload needs of its S3 remote. */
export interface S3Requests {
  /** The bucket. */
  readonly bucket: string;
  /** The remote in messages (`s3://bucket/prefix`). */
  readonly where: string;
  /** How part checksums travel. */
  readonly checksum: PartChecksum;
  /** The storage class of new objects, when configured. */
  readonly storageClass?: string;
  /** The bucket and the full key (the remote's prefix added) of `key`. */
  at(key: string): { Bucket: string; Key: string };
  /** Runs one request under the retry policy; `what` names it in errors. */
  send<T>(
    what: string,
    request: (c: S3Context, attempt: number) => Promise<T>,
  ): Promise<T>;
  /**
   * Sends one command under the retry policy, built anew by `make` for each
   * attempt; `signal` also cancels the request in flight.
   */
  command<I extends S3Input, O extends S3Output>(
    what: string,
    make: (sdk: S3Sdk, attempt: number) => S3Command<I, O>,
    signal?: AbortSignal,
  ): Promise<O>;
}

/** Starts a multipart upload of `key`. */
export async function startMultipart(
  r: S3Requests,
  key: string,
  options: PutOptions,
): Promise<ResumedUpload> {
  let retried = false;
  const created = await r.command(
    `start multipart upload of ${key}`,
    (sdk, attempt) => {
      retried ||= attempt > 1;
      return new sdk.CreateMultipartUploadCommand({
        ...r.at(key),
        ContentType: options.contentType ?? "application/octet-stream",
        StorageClass: storageClassOf(options.storageClass ?? r.storageClass),
        ChecksumAlgorithm: r.checksum === "sha256" ? "SHA256" : undefined,
      });
    },
  );
  const uploadId = created.UploadId;
  if (!uploadId) {
    throw new Error(
      `start multipart upload of ${key} (${r.where}): the store returned no upload id`,
    );
  }
  // A create whose answer was lost may have opened an upload we never
  // learnt the id of: abort every other open upload of this exact key.
  if (retried) await _abortOthers(r, key, uploadId);
  return new _Upload(r, key, uploadId);
}

/** The SDK's storage class field from ours (empty means the bucket's default). */
// deno-lint-ignore no-explicit-any
export function storageClassOf(sc: string | undefined): any {
  return sc || undefined;
}

/** An entity tag without its quotes. */
export function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, "");
}

/**
 * Takes up the open upload `id` of `key` again, with the parts it holds
 * (ListParts, every page); null when the store no longer has it.
 */
export async function resumeMultipart(
  r: S3Requests,
  key: string,
  id: string,
): Promise<ResumedUpload | null> {
  const stored: PartReceipt[] = [];
  let marker: string | undefined;
  for (;;) {
    let out;
    try {
      out = await r.command(
        `list the parts of the open upload of ${key}`,
        (sdk) =>
          new sdk.ListPartsCommand({
            ...r.at(key),
            UploadId: id,
            PartNumberMarker: marker,
          }),
      );
    } catch (e) {
      if (e instanceof RemoteError && e.status === 404) return null;
      throw e;
    }
    for (const p of out.Parts ?? []) {
      const etag = unquote(p.ETag);
      if (p.PartNumber === undefined || !etag || p.Size === undefined) continue;
      stored.push({
        partNumber: p.PartNumber,
        etag,
        size: p.Size,
        checksumSha256: p.ChecksumSHA256,
        // An ETag that is an MD5 (no SSE-KMS) lets the composite check run.
        md5: /^[0-9a-f]{32}$/.test(etag) ? etag : undefined,
      });
    }
    if (!out.IsTruncated) break;
    marker = out.NextPartNumberMarker;
  }
  stored.sort((a, b) => a.partNumber - b.partNumber);
  return new _Upload(r, key, id, stored);
}

/** Aborts the open upload `id` of `key`; one already gone is fine. */
export async function abortMultipart(
  r: S3Requests,
  key: string,
  id: string,
): Promise<void> {
  await _abort(r, key, id, `abort the open upload of ${key}`);
}

class _Upload implements ResumedUpload {
  #aborted = false;

  constructor(
    readonly r: S3Requests,
    readonly key: string,
    readonly id: string,
    readonly stored: readonly PartReceipt[] = [],
  ) {}

  #id(): { Bucket: string; Key: string; UploadId: string } {
    return { ...this.r.at(this.key), UploadId: this.id };
  }

  async uploadPart(
    partNumber: number,
    data: Uint8Array,
    _offset: number,
    checksums?: Checksums,
  ): Promise<PartReceipt> {
    const what = `upload part ${partNumber} of ${this.key}`;
    const sum = bodyChecksum(this.r.checksum, data, checksums);
    const out = await this.r.command(what, (sdk) => {
      const command = new sdk.UploadPartCommand({
        ...this.#id(),
        PartNumber: partNumber,
        ...sum.fields,
      });
      command.middlewareStack.add(payloadHash(sum.hash), PAYLOAD_HASH_STEP);
      return command;
    });
    const etag = unquote(out.ETag);
    if (!etag) {
      throw new Error(`${what} (${this.r.where}): the store returned no ETag`);
    }
    checkEtag(`${what} (${this.r.where})`, etag, sum.md5);
    return {
      partNumber,
      etag,
      size: data.length,
      md5: sum.md5,
      checksumSha256: sum.fields.ChecksumSHA256,
    };
  }

  async complete(parts: PartReceipt[]): Promise<CompletedObject> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const what = `complete multipart upload of ${this.key}`;
    const out = await this.r.send(
      what,
      (c, attempt) => this.#complete(c, attempt, sorted),
    );
    const etag = unquote(out.ETag);
    checkComposite(
      `${what} (${this.r.where})`,
      sorted,
      etag,
      out.ChecksumSHA256,
    );
    return {
      key: this.key,
      size: sorted.reduce((s, p) => s + p.size, 0),
      etag,
    };
  }

  async #complete(
    { sdk, client }: S3Context,
    attempt: number,
    sorted: PartReceipt[],
  ): Promise<{ ETag?: string; ChecksumSHA256?: string }> {
    try {
      return await client.send(
        new sdk.CompleteMultipartUploadCommand({
          ...this.#id(),
          MultipartUpload: {
            Parts: sorted.map((p) => ({
              PartNumber: p.partNumber,
              ETag: `"${p.etag}"`,
              ChecksumSHA256: p.checksumSha256,
            })),
          },
        }),
      );
    } catch (e) {
      // A retried complete whose first answer was lost: the upload is gone
      // because it completed. The object's tag tells.
      if (attempt > 1 && (e as { name?: string })?.name === "NoSuchUpload") {
        return await client.send(
          new sdk.HeadObjectCommand(this.r.at(this.key)),
        );
      }
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (this.#aborted) return;
    await _abort(
      this.r,
      this.key,
      this.id,
      `abort multipart upload of ${this.key}`,
    );
    this.#aborted = true;
  }
}

/** Aborts one upload; one already gone is fine. */
async function _abort(
  r: S3Requests,
  key: string,
  uploadId: string,
  what: string,
): Promise<void> {
  try {
    await r.command(what, (sdk) =>
      new sdk.AbortMultipartUploadCommand({
        ...r.at(key),
        UploadId: uploadId,
      }));
  } catch (e) {
    if (!(e instanceof RemoteError && e.status === 404)) throw e;
  }
}

async function _abortOthers(
  r: S3Requests,
  key: string,
  keep: string,
): Promise<void> {
  const { Bucket, Key: fullKey } = r.at(key);
  const out = await r.command(
    `list multipart uploads of ${fullKey}`,
    (sdk) => new sdk.ListMultipartUploadsCommand({ Bucket, Prefix: fullKey }),
  );
  for (const u of out.Uploads ?? []) {
    if (u.Key !== fullKey || !u.UploadId || u.UploadId === keep) continue;
    await _abort(
      r,
      key,
      u.UploadId,
      `abort stray multipart upload of ${fullKey}`,
    );
  }
}
