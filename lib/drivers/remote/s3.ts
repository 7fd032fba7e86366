/**
 * An S3 bucket (AWS, Cloudflare R2, Backblaze B2, MinIO, Ceph, ...) as a
 * {@linkcode Remote}, on `@aws-sdk/client-s3` loaded on first use. Every
 * request goes through our retry policy (the SDK's own retries are off), and
 * every part carries a checksum the server verifies: Content-MD5,
 * x-amz-checksum-sha256, or its SHA-256 as the signed x-amz-content-sha256.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { loadS3Sdk, type S3Sdk } from "./_sdk.ts";
import {
  b2Endpoint,
  type PartChecksum,
  type Provider,
  type ProviderPreset,
  providerPreset,
  r2Endpoint,
} from "./providers.ts";
import type {
  ByteRange,
  Checksums,
  CompletedObject,
  MultipartUpload,
  PartReceipt,
  PutOptions,
  Remote,
  RemoteLimits,
  RemoteObject,
} from "./remote.ts";
import { NotFoundError } from "./remote.ts";
import { FetchHttpHandler } from "./_fetch_handler.ts";
import {
  RemoteError,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  withRetry,
} from "./retry.ts";

/** Options of {@linkcode s3Remote}. */
export interface S3RemoteOptions {
  /** The remote's id from the configuration. */
  id: string;
  /** Bucket name. */
  bucket: string;
  /** Provider preset (limits, checksums, endpoint shape). */
  provider: Provider;
  /** Region; the preset's default when absent (R2: `auto`). */
  region?: string;
  /** Endpoint URL; derived for R2 (from `accountId`) and B2 (from `region`) when absent. */
  endpoint?: string;
  /** Cloudflare account id (R2 only), used to derive the endpoint. */
  accountId?: string;
  /** Path-style addressing (`endpoint/bucket/key`); the preset decides when absent. */
  forcePathStyle?: boolean;
  /** Key prefix inside the bucket, e.g. `host1/` (keys passed to the remote are relative to it). */
  prefix?: string;
  /** Named AWS profile (shared config/credentials files). */
  profile?: string;
  /** Explicit credentials; otherwise the standard chain (environment, profile, instance role). */
  accessKeyId?: string;
  /** Secret of `accessKeyId`. */
  secretAccessKey?: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
  /** Verify the server's TLS certificate (default true). */
  verifyTls?: boolean;
  /** Path of a PEM file of extra CA certificates to trust. */
  caBundle?: string;
  /** Storage class of new objects (e.g. STANDARD_IA, GLACIER). */
  storageClass?: string;
  /** First part size in bytes (preset default when absent). */
  partSize?: number;
  /** Parts in flight (preset default when absent). */
  concurrency?: number;
  /** Largest object before a stream continues in `.seqn1`, ... (preset default when absent). */
  maxObjectSize?: number;
  /** Part checksum override (`md5` is accepted everywhere; see {@linkcode PartChecksum}). */
  checksum?: PartChecksum;
  /** Retry policy of every request. */
  retry?: RetryOptions;
  /** Socket inactivity timeout in ms (default 60,000); a stalled request is retried. */
  timeoutMs?: number;
  /** TCP/TLS connect timeout in ms (default 10,000; Node HTTP stack only). */
  connectTimeoutMs?: number;
  /**
   * HTTP stack. `auto` (default): downloads on Deno's `fetch` (measured about
   * 1.5x faster here), everything else on `node:http` (uploads through
   * `fetch` cost more CPU and memory here). `fetch` or `node`: all requests
   * on one. Without TLS verification everything uses `node`, which `fetch`
   * cannot do.
   */
  http?: "auto" | "fetch" | "node";
}

/** Opens an S3 bucket as a {@linkcode Remote}. The SDK loads on the first request. */
export function s3Remote(options: S3RemoteOptions): Remote {
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
export async function s3ClientOf(remote: Remote): Promise<RawS3Client> {
  if (!(remote instanceof _S3Remote)) {
    throw new TypeError(`remote ${remote.id} is not an S3 remote`);
  }
  return (await remote.sdk()).client as unknown as RawS3Client;
}

interface _Handler {
  metadata?: unknown;
  handle(req: unknown, opts?: { abortSignal?: AbortSignal }): Promise<unknown>;
  updateHttpClientConfig(): void;
  httpHandlerConfigs(): object;
  destroy?(): void;
}

interface _Ctx {
  sdk: S3Sdk;
  client: S3Client;
}

class _S3Remote implements Remote {
  readonly id: string;
  readonly kind = "s3" as const;
  readonly limits: RemoteLimits;
  readonly partChecksum: "md5" | "sha256";
  /** How the part checksum travels. */
  readonly #checksum: PartChecksum;
  readonly #o: S3RemoteOptions;
  readonly #preset: ProviderPreset;
  readonly #prefix: string;
  readonly #retry: RetryPolicy;
  readonly #where: string;
  #ctx?: Promise<_Ctx>;

  constructor(o: S3RemoteOptions) {
    if (!o.bucket) {
      throw new Error(`remote ${o.id}: bucket is empty; set the bucket name`);
    }
    this.id = o.id;
    this.#o = o;
    this.#preset = providerPreset(o.provider);
    this.#checksum = o.checksum ?? this.#preset.checksum;
    this.partChecksum = this.#checksum === "md5" ? "md5" : "sha256";
    this.#prefix = o.prefix ?? "";
    this.#retry = retryPolicy(o.retry);
    this.#where = `s3://${o.bucket}/${this.#prefix}`;
    const l = this.#preset.limits;
    this.limits = {
      ...l,
      partSize: o.partSize ?? l.partSize,
      concurrency: o.concurrency ?? l.concurrency,
      maxObjectSize: o.maxObjectSize ?? l.maxObjectSize,
    };
    if (this.limits.partSize < l.minPartSize) {
      throw new RangeError(
        `remote ${o.id}: part size ${this.limits.partSize} is below the ${this.#preset.title} minimum of ${l.minPartSize} bytes (5 MiB)`,
      );
    }
    if (this.limits.partSize > l.maxPartSize) {
      throw new RangeError(
        `remote ${o.id}: part size ${this.limits.partSize} is above the ${this.#preset.title} maximum of ${l.maxPartSize} bytes (5 GiB)`,
      );
    }
  }

  sdk(): Promise<_Ctx> {
    this.#ctx ??= this.#connect();
    return this.#ctx;
  }

  async #connect(): Promise<_Ctx> {
    const o = this.#o;
    const sdk = await loadS3Sdk();
    const ca = o.caBundle ? await Deno.readTextFile(o.caBundle) : undefined;
    const mode = o.verifyTls === false ? "node" : (o.http ?? "auto");
    let endpoint = o.endpoint;
    if (!endpoint && o.provider === "r2") {
      if (!o.accountId) {
        throw new Error(
          `remote ${o.id}: Cloudflare R2 needs an endpoint or an account id`,
        );
      }
      endpoint = r2Endpoint(o.accountId);
    }
    const region = o.region ?? this.#preset.defaultRegion;
    if (!endpoint && o.provider === "b2") endpoint = b2Endpoint(region);
    const credentials = o.accessKeyId || o.secretAccessKey
      ? {
        accessKeyId: o.accessKeyId ?? "",
        secretAccessKey: o.secretAccessKey ?? "",
        sessionToken: o.sessionToken,
      }
      : undefined;
    if (
      credentials && (!credentials.accessKeyId || !credentials.secretAccessKey)
    ) {
      throw new Error(
        `remote ${o.id}: give both the access key id and the secret access key, or neither (to use the AWS profile/environment)`,
      );
    }
    const client = new sdk.S3Client({
      region,
      endpoint,
      forcePathStyle: o.forcePathStyle ?? this.#preset.forcePathStyle,
      credentials,
      profile: o.profile,
      // Our retry policy is the only one: it retries parts from memory.
      maxAttempts: 1,
      // The SDK's default aws-chunked CRC32 bodies are stored verbatim by some
      // S3-compatible servers; we send our own checksums instead.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Expect: 100-continue makes the SDK open a fresh connection per part.
      expectContinueHeader: false,
      requestHandler: (mode === "fetch"
        ? this.#fetchHandler(ca)
        : await this.#nodeHandler(ca)) as never,
    });
    client.middlewareStack.add(
      (next) => (args) => {
        const req = args.request as {
          headers?: Record<string, string>;
          body?: unknown;
        };
        const h = req?.headers;
        const signed = req.body instanceof Uint8Array
          ? _payloadSha256.get(req.body)
          : undefined;
        // The signer uses a given x-amz-content-sha256 instead of hashing
        // the body on the main thread: either the part's SHA-256 computed
        // off it (signed, and the store checks the body against it), or,
        // when a signed Content-MD5 or x-amz-checksum-sha256 is checked
        // instead, UNSIGNED-PAYLOAD.
        if (h && signed) {
          h["x-amz-content-sha256"] = signed;
        } else if (
          h && req.body instanceof Uint8Array &&
          (h["content-md5"] ?? h["Content-MD5"] ??
              h["x-amz-checksum-sha256"]) !== undefined
        ) {
          h["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
        }
        return next(args);
      },
      { step: "build", name: "snap2s3UnsignedPayload" },
    );
    if (mode === "auto") {
      // The SDK built its Node handler from our options; GETs go to fetch.
      const config = client.config as unknown as { requestHandler: _Handler };
      const node = config.requestHandler;
      const fetch = this.#fetchHandler(ca);
      config.requestHandler = {
        metadata: fetch.metadata,
        handle: (req, opts) =>
          (req as { method?: string }).method === "GET"
            ? fetch.handle(req as never, opts)
            : node.handle(req, opts),
        updateHttpClientConfig: () => {},
        httpHandlerConfigs: () => ({}),
        destroy: () => {
          fetch.destroy();
          node.destroy?.();
        },
      };
    }
    return { sdk, client };
  }

  #fetchHandler(ca: string | undefined): FetchHttpHandler {
    return new FetchHttpHandler({
      timeoutMs: this.#o.timeoutMs ?? 60_000,
      client: ca ? Deno.createHttpClient({ caCerts: [ca] }) : undefined,
    });
  }

  async #nodeHandler(ca: string | undefined): Promise<object> {
    const o = this.#o;
    const http = await import("node:http");
    const https = await import("node:https");
    const sockets = Math.max(16, this.limits.concurrency * 2 + 4);
    return {
      connectionTimeout: o.connectTimeoutMs ?? 10_000,
      socketTimeout: o.timeoutMs ?? 60_000,
      throwOnRequestTimeout: true,
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: sockets }),
      httpsAgent: new https.Agent({
        keepAlive: true,
        maxSockets: sockets,
        rejectUnauthorized: o.verifyTls ?? true,
        ca,
      }),
    };
  }

  #k(key: string): string {
    return this.#prefix + key;
  }

  #retried<T>(
    what: string,
    fn: (c: _Ctx, attempt: number) => Promise<T>,
  ): Promise<T> {
    return withRetry(
      `${what} (${this.#where})`,
      async (attempt) => fn(await this.sdk(), attempt),
      this.#retry,
    );
  }

  async *list(prefix = ""): AsyncIterable<RemoteObject> {
    let token: string | undefined;
    do {
      const page = await this.#retried(
        `list ${JSON.stringify(prefix)}`,
        ({ sdk, client }) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: this.#o.bucket,
              Prefix: this.#k(prefix),
              ContinuationToken: token,
            }),
          ),
      );
      for (const c of page.Contents ?? []) {
        if (!c.Key?.startsWith(this.#prefix)) continue;
        yield {
          key: c.Key.slice(this.#prefix.length),
          size: c.Size ?? 0,
          lastModified: c.LastModified,
          etag: _unquote(c.ETag),
          storageClass: c.StorageClass,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async head(key: string): Promise<RemoteObject | null> {
    try {
      const r = await this.#retried(
        `head ${key}`,
        ({ sdk, client }) =>
          client.send(
            new sdk.HeadObjectCommand({
              Bucket: this.#o.bucket,
              Key: this.#k(key),
            }),
          ),
      );
      return {
        key,
        size: r.ContentLength ?? 0,
        lastModified: r.LastModified,
        etag: _unquote(r.ETag),
        storageClass: r.StorageClass,
      };
    } catch (e) {
      if (e instanceof RemoteError && (e.status === 404)) return null;
      throw e;
    }
  }

  async get(
    key: string,
    options: { range?: ByteRange; ifMatch?: string } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const r = options.range;
    try {
      const out = await this.#retried(
        `get ${key}`,
        ({ sdk, client }) =>
          client.send(
            new sdk.GetObjectCommand({
              Bucket: this.#o.bucket,
              Key: this.#k(key),
              Range: r ? `bytes=${r.start}-${r.end ?? ""}` : undefined,
              IfMatch: options.ifMatch ? `"${options.ifMatch}"` : undefined,
            }),
          ),
      );
      return _toWebStream(out.Body);
    } catch (e) {
      if (
        e instanceof RemoteError &&
        (e.status === 404 || e.code === "NoSuchKey")
      ) {
        throw new NotFoundError(key, this.#where);
      }
      throw e;
    }
  }

  #checksumFields(
    data: Uint8Array,
    given?: Checksums,
  ): { ContentMD5?: string; ChecksumSHA256?: string; md5?: string } {
    if (this.#checksum === "signed-sha256") {
      const d = given?.sha256 ?? createHash("sha256").update(data).digest();
      _payloadSha256.set(data, Buffer.from(d).toString("hex"));
      return {};
    }
    if (this.#checksum === "sha256") {
      const d = given?.sha256 ??
        createHash("sha256").update(data).digest();
      return { ChecksumSHA256: Buffer.from(d).toString("base64") };
    }
    const d = given?.md5 ?? createHash("md5").update(data).digest();
    const b = Buffer.from(d);
    return { ContentMD5: b.toString("base64"), md5: b.toString("hex") };
  }

  async put(
    key: string,
    data: Uint8Array,
    options: PutOptions & { checksums?: Checksums } = {},
  ): Promise<CompletedObject> {
    const { md5, ...sums } = this.#checksumFields(data, options.checksums);
    const r = await this.#retried(
      `put ${key}`,
      ({ sdk, client }) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: this.#o.bucket,
            Key: this.#k(key),
            Body: data,
            ContentLength: data.length,
            ContentType: options.contentType ?? "application/octet-stream",
            StorageClass: _storageClass(
              options.storageClass ?? this.#o.storageClass,
            ),
            ...sums,
          }),
        ),
    );
    const etag = _unquote(r.ETag);
    if (md5 && etag && /^[0-9a-f]{32}$/.test(etag) && etag !== md5) {
      throw new RemoteError(
        `put ${key} (${this.#where}): the store's ETag ${etag} is not the MD5 ${md5} of what was sent`,
        "ETagMismatch",
        undefined,
        false,
      );
    }
    return { key, size: data.length, etag };
  }

  async createMultipartUpload(
    key: string,
    options: PutOptions = {},
  ): Promise<MultipartUpload> {
    const bucket = this.#o.bucket;
    const fullKey = this.#k(key);
    const sha = this.#checksum === "sha256";
    let retriedCreate = false;
    const created = await this.#retried(
      `start multipart upload of ${key}`,
      ({ sdk, client }, attempt) => {
        retriedCreate ||= attempt > 1;
        return client.send(
          new sdk.CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: fullKey,
            ContentType: options.contentType ?? "application/octet-stream",
            StorageClass: _storageClass(
              options.storageClass ?? this.#o.storageClass,
            ),
            ChecksumAlgorithm: sha ? "SHA256" : undefined,
          }),
        );
      },
    );
    const uploadId = created.UploadId;
    if (!uploadId) {
      throw new Error(
        `start multipart upload of ${key} (${this.#where}): the store returned no upload id`,
      );
    }
    if (retriedCreate) {
      // A create whose answer was lost may have opened an upload we never
      // learnt the id of: abort every other open upload of this exact key.
      await this.#abortOthers(fullKey, uploadId);
    }
    let aborted = false;
    const where = this.#where;
    return {
      key,
      uploadPart: async (partNumber, data, _offset, checksums) => {
        const { md5, ...sums } = this.#checksumFields(data, checksums);
        const r = await this.#retried(
          `upload part ${partNumber} of ${key}`,
          ({ sdk, client }) =>
            client.send(
              new sdk.UploadPartCommand({
                Bucket: bucket,
                Key: fullKey,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: data,
                ContentLength: data.length,
                ...sums,
              }),
            ),
        );
        const etag = _unquote(r.ETag);
        if (!etag) {
          throw new Error(
            `upload part ${partNumber} of ${key} (${where}): the store returned no ETag`,
          );
        }
        if (md5 && /^[0-9a-f]{32}$/.test(etag) && etag !== md5) {
          throw new RemoteError(
            `upload part ${partNumber} of ${key} (${where}): the store's ETag ${etag} is not the MD5 ${md5} of what was sent`,
            "ETagMismatch",
            undefined,
            false,
          );
        }
        return {
          partNumber,
          etag,
          size: data.length,
          md5,
          checksumSha256: sums.ChecksumSHA256,
        } satisfies PartReceipt;
      },
      complete: async (parts) => {
        const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
        const r: { ETag?: string; ChecksumSHA256?: string } = await this
          .#retried(
            `complete multipart upload of ${key}`,
            async ({ sdk, client }, attempt) => {
              try {
                return await client.send(
                  new sdk.CompleteMultipartUploadCommand({
                    Bucket: bucket,
                    Key: fullKey,
                    UploadId: uploadId,
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
                // A retried complete whose first answer was lost: the upload
                // is gone because it completed. The object's tag tells.
                if (
                  attempt > 1 &&
                  (e as { name?: string })?.name === "NoSuchUpload"
                ) {
                  const h = await client.send(
                    new sdk.HeadObjectCommand({ Bucket: bucket, Key: fullKey }),
                  );
                  return { ETag: h.ETag, ChecksumSHA256: h.ChecksumSHA256 };
                }
                throw e;
              }
            },
          );
        const etag = _unquote(r.ETag);
        _checkComposite(key, where, sorted, etag, r.ChecksumSHA256);
        return {
          key,
          size: sorted.reduce((s, p) => s + p.size, 0),
          etag,
        };
      },
      abort: async () => {
        if (aborted) return;
        try {
          await this.#retried(
            `abort multipart upload of ${key}`,
            ({ sdk, client }) =>
              client.send(
                new sdk.AbortMultipartUploadCommand({
                  Bucket: bucket,
                  Key: fullKey,
                  UploadId: uploadId,
                }),
              ),
          );
        } catch (e) {
          if (!(e instanceof RemoteError && e.status === 404)) throw e;
        }
        aborted = true;
      },
    };
  }

  async #abortOthers(fullKey: string, keep: string): Promise<void> {
    const r = await this.#retried(
      `list multipart uploads of ${fullKey}`,
      ({ sdk, client }) =>
        client.send(
          new sdk.ListMultipartUploadsCommand({
            Bucket: this.#o.bucket,
            Prefix: fullKey,
          }),
        ),
    );
    for (const u of r.Uploads ?? []) {
      if (u.Key !== fullKey || !u.UploadId || u.UploadId === keep) continue;
      await this.#retried(
        `abort stray multipart upload of ${fullKey}`,
        ({ sdk, client }) =>
          client.send(
            new sdk.AbortMultipartUploadCommand({
              Bucket: this.#o.bucket,
              Key: fullKey,
              UploadId: u.UploadId,
            }),
          ),
      ).catch((e) => {
        if (!(e instanceof RemoteError && e.status === 404)) throw e;
      });
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const r = await this.#retried(
        `delete ${batch.length} object${batch.length > 1 ? "s" : ""}`,
        ({ sdk, client }) =>
          client.send(
            new sdk.DeleteObjectsCommand({
              Bucket: this.#o.bucket,
              Delete: {
                Objects: batch.map((k) => ({ Key: this.#k(k) })),
                Quiet: true,
              },
            }),
          ),
      );
      const errors = (r.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (errors.length) {
        const e = errors[0];
        throw new RemoteError(
          `delete (${this.#where}): ${errors.length} object(s) not deleted, first ${e.Key}: ${e.Code}: ${e.Message}`,
          e.Code ?? "DeleteFailed",
          undefined,
          false,
        );
      }
    }
  }

  async listOpenUploads(prefix = ""): Promise<string[]> {
    const out: string[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const r = await this.#retried(
        "list multipart uploads",
        ({ sdk, client }) =>
          client.send(
            new sdk.ListMultipartUploadsCommand({
              Bucket: this.#o.bucket,
              Prefix: this.#k(prefix),
              KeyMarker: keyMarker,
              UploadIdMarker: idMarker,
            }),
          ),
      );
      for (const u of r.Uploads ?? []) {
        if (u.Key) out.push(u.Key.slice(this.#prefix.length));
      }
      if (!r.IsTruncated) return out;
      keyMarker = r.NextKeyMarker;
      idMarker = r.NextUploadIdMarker;
    }
  }

  close(): void {
    this.#ctx?.then((c) => c.client.destroy(), () => {});
  }
}

/** Bodies to send with their SHA-256 (hex) as the signed x-amz-content-sha256. */
const _payloadSha256 = new WeakMap<Uint8Array, string>();

function _unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, "");
}

// deno-lint-ignore no-explicit-any
function _storageClass(sc: string | undefined): any {
  return sc || undefined;
}

/** Checks a completed object's ETag / composite checksum against the parts sent. */
function _checkComposite(
  key: string,
  where: string,
  parts: PartReceipt[],
  etag: string | undefined,
  checksum: string | undefined,
): void {
  const n = parts.length;
  if (parts.every((p) => p.md5) && etag && /^[0-9a-f]{32}-\d+$/.test(etag)) {
    const h = createHash("md5");
    for (const p of parts) h.update(Buffer.from(p.md5!, "hex"));
    const want = `${h.digest("hex")}-${n}`;
    if (etag !== want) {
      throw new RemoteError(
        `complete ${key} (${where}): the object's ETag ${etag} does not match the ${n} parts sent (${want})`,
        "ETagMismatch",
        undefined,
        false,
      );
    }
  }
  if (parts.every((p) => p.checksumSha256) && checksum) {
    const h = createHash("sha256");
    for (const p of parts) h.update(Buffer.from(p.checksumSha256!, "base64"));
    const want = `${h.digest("base64")}-${n}`;
    if (checksum !== want && checksum.split("-")[0] !== want.split("-")[0]) {
      throw new RemoteError(
        `complete ${key} (${where}): the object's SHA-256 checksum ${checksum} does not match the ${n} parts sent (${want})`,
        "ChecksumMismatch",
        undefined,
        false,
      );
    }
  }
}

/** The SDK's response body (a Node stream under Deno) as a web stream of Uint8Array. */
function _toWebStream(body: unknown): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  const b = body as {
    [Symbol.asyncIterator]?: () => AsyncIterator<Uint8Array>;
    destroy?: (e?: Error) => void;
  };
  if (!b || typeof b[Symbol.asyncIterator] !== "function") {
    return new ReadableStream({ start: (c) => c.close() });
  }
  const it = b[Symbol.asyncIterator]!();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else {controller.enqueue(
          value instanceof Uint8Array ? value : new Uint8Array(value),
        );}
    },
    async cancel() {
      b.destroy?.();
      await it.return?.();
    },
  });
}
