/**
 * An S3 bucket (AWS, Cloudflare R2, Backblaze B2, MinIO, Ceph, ...) as a
 * {@linkcode Remote}, on `@aws-sdk/client-s3` loaded on first use. Every
 * request goes through our retry policy (the SDK's own retries are off), and
 * every part carries a checksum the server verifies: Content-MD5,
 * x-amz-checksum-sha256, or its SHA-256 as the signed x-amz-content-sha256.
 *
 * @module
 */

import {
  connectS3,
  type S3ClientOptions,
  type S3Context,
} from "./_s3_client.ts";
import {
  bodyChecksum,
  checkEtag,
  PAYLOAD_HASH_STEP,
  payloadHash,
} from "./_s3_checksums.ts";
import {
  abortMultipart,
  resumeMultipart,
  type S3Requests,
  startMultipart,
  storageClassOf,
  unquote,
} from "./_s3_multipart.ts";
import { NotFoundError, RemoteError } from "./errors.ts";
import { s3ColdStorage } from "./_s3_archive.ts";
import type { ColdStorage } from "./cold_storage.ts";
import { deleteAllVersions } from "./_s3_retention.ts";
import {
  type PartChecksum,
  type ProviderPreset,
  providerPreset,
} from "./providers.ts";
import type * as R from "./remote.ts";
import {
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  withRetry,
} from "./retry.ts";
import { toWebStream } from "./_web_stream.ts";
import type { S3Command, S3Input, S3Output, S3Sdk } from "./_sdk.ts";
import { fitMemory, type MemoryShape } from "./memory_budget.ts";

/** Options of {@linkcode s3Remote}. */
export interface S3RemoteOptions extends S3ClientOptions {
  /** Bucket name. */
  bucket: string;
  /** Key prefix inside the bucket, e.g. `host1/` (keys passed to the remote are relative to it). */
  prefix?: string;
  /** Storage class of new objects (e.g. STANDARD_IA, GLACIER). */
  storageClass?: string;
  /** First part size in bytes (preset default when absent). */
  partSize?: number;
  /** Parts in flight (preset default when absent). */
  concurrency?: number;
  /**
   * Bytes of part buffers one upload or download holds at most. Sets the
   * part size and concurrency that are not given (see memory_budget.ts);
   * default 80 MiB, or what a given part size and concurrency need.
   */
  memory?: number;
  /** Largest object before a stream continues in `.seqn1`, ... (preset default when absent). */
  maxObjectSize?: number;
  /** Part checksum override (`md5` is accepted everywhere; see {@linkcode PartChecksum}). */
  checksum?: PartChecksum;
  /** Retry policy of every request. */
  retry?: RetryOptions;
  /**
   * The bucket keeps versions (object lock): deletes remove every version
   * of a key, not only add a delete marker, so nothing stays billed.
   */
  versioned?: boolean;
}

/** Opens an S3 bucket as a {@linkcode Remote}. The SDK loads on the first request. */
export function s3Remote(options: S3RemoteOptions): R.Remote {
  return new _S3Remote(options);
}

/** The parts of the SDK's S3 client that {@linkcode s3ClientOf} exposes. */
export interface RawS3Client {
  /** Sends an SDK command (e.g. `new PutObjectCommand(...)`). */
  send(command: object): Promise<unknown>;
  /** The client's resolved configuration. */
  config: { region(): Promise<string> };
}

/**
 * The SDK client an S3 remote uses, for tests and tools that need raw calls
 * (no retry policy); loads the SDK if needed.
 */
export async function s3ClientOf(remote: R.Remote): Promise<RawS3Client> {
  if (!(remote instanceof _S3Remote)) {
    throw new TypeError(`remote ${remote.id} is not an S3 remote`);
  }
  return (await remote.context()).client;
}

class _S3Remote implements R.Remote, S3Requests {
  readonly id: string;
  readonly kind = "s3" as const;
  readonly limits: R.RemoteLimits;
  readonly partChecksum: "md5" | "sha256";
  readonly objectMetadata = true;
  readonly checksum: PartChecksum;
  readonly bucket: string;
  readonly where: string;
  readonly storageClass?: string;
  readonly cold: ColdStorage;
  readonly #o: S3RemoteOptions;
  readonly #prefix: string;
  readonly #retry: RetryPolicy;
  #ctx?: Promise<S3Context>;

  constructor(o: S3RemoteOptions) {
    if (!o.bucket) {
      throw new Error(`remote ${o.id}: bucket is empty; set the bucket name`);
    }
    const preset = providerPreset(o.provider);
    this.id = o.id;
    this.#o = o;
    this.bucket = o.bucket;
    this.storageClass = o.storageClass;
    this.checksum = o.checksum ?? preset.checksum;
    this.partChecksum = this.checksum === "md5" ? "md5" : "sha256";
    this.#prefix = o.prefix ?? "";
    this.#retry = retryPolicy(o.retry);
    this.where = `s3://${o.bucket}/${this.#prefix}`;
    this.limits = _limits(o, preset);
    this.cold = s3ColdStorage(this);
  }

  context(): Promise<S3Context> {
    this.#ctx ??= connectS3(this.#o, this.limits.concurrency);
    return this.#ctx;
  }

  send<T>(
    what: string,
    request: (c: S3Context, attempt: number) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    return withRetry(
      `${what} (${this.where})`,
      async (attempt) => request(await this.context(), attempt),
      this.#retry,
      { signal },
    );
  }

  command<I extends S3Input, O extends S3Output>(
    what: string,
    make: (sdk: S3Sdk, attempt: number) => S3Command<I, O>,
    signal?: AbortSignal,
  ): Promise<O> {
    return this.send(
      what,
      ({ sdk, client }, attempt) =>
        client.send(
          make(sdk, attempt),
          signal ? { abortSignal: signal } : undefined,
        ),
      signal,
    );
  }

  /** Bucket and full key of `key`. */
  at(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.bucket, Key: this.#prefix + key };
  }

  /** Bucket and full prefix of `prefix`. */
  #under(prefix: string): { Bucket: string; Prefix: string } {
    return { Bucket: this.bucket, Prefix: this.#prefix + prefix };
  }

  list(prefix = ""): AsyncIterable<R.RemoteObject> {
    return this.#list(prefix, false);
  }

  listLevel(prefix = ""): AsyncIterable<R.RemoteObject> {
    return this.#list(prefix, true);
  }

  /** Every page of a listing; `level` stops at the next `/` and passes over dot names. */
  async *#list(
    prefix: string,
    level: boolean,
  ): AsyncIterable<R.RemoteObject> {
    let token: string | undefined;
    do {
      const page = await this.command(
        `list ${JSON.stringify(prefix)}`,
        (sdk) =>
          new sdk.ListObjectsV2Command({
            ...this.#under(prefix),
            // Keys in deeper "folders" come back as CommonPrefixes, unread.
            Delimiter: level ? "/" : undefined,
            ContinuationToken: token,
          }),
      );
      for (const c of page.Contents ?? []) {
        if (!c.Key?.startsWith(this.#prefix)) continue;
        const key = c.Key.slice(this.#prefix.length);
        if (level && key.slice(key.lastIndexOf("/") + 1).startsWith(".")) {
          continue;
        }
        yield _object(key, c.Size, c);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async head(
    key: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<R.RemoteObject | null> {
    const { signal } = options;
    try {
      const r = await this.command(
        `head ${key}`,
        (sdk) => new sdk.HeadObjectCommand(this.at(key)),
        signal,
      );
      const o = _object(key, r.ContentLength, r);
      if (r.Metadata && Object.keys(r.Metadata).length) {
        o.metadata = _lowerKeys(r.Metadata);
      }
      return o;
    } catch (e) {
      if (e instanceof RemoteError && (e.status === 404)) return null;
      throw e;
    }
  }

  async get(
    key: string,
    options: R.GetOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const { range: r, ifMatch, signal } = options;
    try {
      const out = await this.command(
        `get ${key}`,
        (sdk) =>
          new sdk.GetObjectCommand({
            ...this.at(key),
            Range: r ? `bytes=${r.start}-${r.end ?? ""}` : undefined,
            IfMatch: ifMatch ? `"${ifMatch}"` : undefined,
          }),
        signal,
      );
      return toWebStream(out.Body);
    } catch (e) {
      if (
        e instanceof RemoteError &&
        (e.status === 404 || e.code === "NoSuchKey")
      ) {
        throw new NotFoundError(key, this.where);
      }
      throw e;
    }
  }

  async put(
    key: string,
    data: Uint8Array,
    options: R.PutOptions & { checksums?: R.Checksums } = {},
  ): Promise<R.CompletedObject> {
    const sum = bodyChecksum(this.checksum, data, options.checksums);
    const r = await this.command(`put ${key}`, (sdk) => {
      const command = new sdk.PutObjectCommand({
        ...this.at(key),
        ...sum.fields,
        ContentType: options.contentType ?? "application/octet-stream",
        StorageClass: storageClassOf(options.storageClass ?? this.storageClass),
        Metadata: options.metadata,
      });
      command.middlewareStack.add(payloadHash(sum.hash), PAYLOAD_HASH_STEP);
      return command;
    });
    const etag = unquote(r.ETag);
    checkEtag(`put ${key} (${this.where})`, etag, sum.md5);
    return { key, size: data.length, etag };
  }

  createMultipartUpload(
    key: string,
    options: R.PutOptions = {},
  ): Promise<R.MultipartUpload> {
    return startMultipart(this, key, options);
  }

  async delete(keys: string[]): Promise<void> {
    if (this.#o.versioned) {
      return await deleteAllVersions(this, keys.map((k) => this.#prefix + k));
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const r = await this.command(
        `delete ${batch.length} object${batch.length > 1 ? "s" : ""}`,
        (sdk) =>
          new sdk.DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: {
              Objects: batch.map((k) => ({ Key: this.#prefix + k })),
              Quiet: true,
            },
          }),
      );
      const errors = (r.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (errors.length) {
        const e = errors[0];
        throw new RemoteError(
          `delete (${this.where}): ${errors.length} object(s) not deleted, first ${e.Key}: ${e.Code}: ${e.Message}`,
          { code: e.Code ?? "DeleteFailed", transient: false },
        );
      }
    }
  }

  async listOpenUploads(prefix = ""): Promise<R.OpenUpload[]> {
    const out: R.OpenUpload[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const r = await this.command(
        "list multipart uploads",
        (sdk) =>
          new sdk.ListMultipartUploadsCommand({
            ...this.#under(prefix),
            KeyMarker: keyMarker,
            UploadIdMarker: idMarker,
          }),
      );
      for (const u of r.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        out.push({
          key: u.Key.slice(this.#prefix.length),
          id: u.UploadId,
          initiated: u.Initiated,
        });
      }
      if (!r.IsTruncated) return out;
      keyMarker = r.NextKeyMarker;
      idMarker = r.NextUploadIdMarker;
    }
  }

  async abortOpenUpload(upload: R.OpenUpload): Promise<void> {
    if (upload.key === null) return;
    await abortMultipart(this, upload.key, upload.id);
  }

  async resumeUpload(key: string, id: string): Promise<R.ResumedUpload | null> {
    return await resumeMultipart(this, key, id);
  }

  close(): void {
    this.#ctx?.then((c) => c.client.destroy(), () => {});
  }
}

/** A listing entry or HEAD answer as a {@linkcode R.RemoteObject}. */
function _object(
  key: string,
  size: number | undefined,
  o: { LastModified?: Date; ETag?: string; StorageClass?: string },
): R.RemoteObject {
  return {
    key,
    size: size ?? 0,
    lastModified: o.LastModified,
    etag: unquote(o.ETag),
    storageClass: o.StorageClass,
  };
}

/** Metadata names as HTTP carries them: case-insensitive, so lower case. */
function _lowerKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]),
  );
}

/** The preset's limits with the configured overrides, checked. */
function _limits(o: S3RemoteOptions, preset: ProviderPreset): R.RemoteLimits {
  const l = preset.limits;
  let fitted: MemoryShape = l;
  if (o.memory !== undefined) {
    try {
      fitted = fitMemory(o.memory, l, {
        partSize: o.partSize,
        concurrency: o.concurrency,
      });
    } catch (e) {
      throw new RangeError(`remote ${o.id}: ${(e as Error).message}`);
    }
  }
  const partSize = o.partSize ?? fitted.partSize;
  const concurrency = o.concurrency ?? fitted.concurrency;
  const sized = o.partSize !== undefined || o.concurrency !== undefined;
  const limits = {
    ...l,
    partSize,
    concurrency,
    memory: o.memory ?? (sized ? partSize * (concurrency + 1) : l.memory),
    maxObjectSize: o.maxObjectSize ?? l.maxObjectSize,
  };
  if (partSize * (concurrency + 1) > limits.memory) {
    throw new RangeError(
      `remote ${o.id}: part size ${partSize} × (concurrency ${concurrency} + 1) is above the memory budget of ${limits.memory} bytes; lower the part size or concurrency, or raise the memory budget`,
    );
  }
  if (limits.partSize < l.minPartSize) {
    throw new RangeError(
      `remote ${o.id}: part size ${limits.partSize} is below the ${preset.title} minimum of ${l.minPartSize} bytes (5 MiB)`,
    );
  }
  if (limits.partSize > l.maxPartSize) {
    throw new RangeError(
      `remote ${o.id}: part size ${limits.partSize} is above the ${preset.title} maximum of ${l.maxPartSize} bytes (5 GiB)`,
    );
  }
  return limits;
}
