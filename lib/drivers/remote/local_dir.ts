/**
 * A local directory as a remote (the embedded default; also USB disks and NAS
 * mounts). Keys map to files; `/` in a key makes subdirectories. Writes go to
 * a temp file in `.snap2s3-partial/` under the root, are fsynced and renamed
 * into place, so a crash never leaves a half object under a final name.
 *
 * @module
 */

import type {
  ByteRange,
  CompletedObject,
  MultipartUpload,
  PartReceipt,
  PutOptions,
  Remote,
  RemoteLimits,
  RemoteObject,
} from "./remote.ts";
import { NotFoundError } from "./remote.ts";

/** Options of {@linkcode localDirRemote}. */
export interface LocalDirRemoteOptions {
  /** The remote's id from the configuration. */
  id: string;
  /** Root directory; it must exist. */
  path: string;
  /** Part size of streamed writes (default 16 MiB). */
  partSize?: number;
  /** Parts written at once (default 2). */
  concurrency?: number;
}

/** Name of the directory under the root that holds writes in progress. */
export const PARTIAL_DIR = ".snap2s3-partial";

const _MiB = 1024 * 1024;

/** Opens a local directory as a {@linkcode Remote}. */
export function localDirRemote(options: LocalDirRemoteOptions): Remote {
  return new _LocalDirRemote(options);
}

class _LocalDirRemote implements Remote {
  readonly id: string;
  readonly kind = "local" as const;
  readonly partChecksum = null;
  readonly limits: RemoteLimits;
  readonly #root: string;

  constructor(options: LocalDirRemoteOptions) {
    this.id = options.id;
    this.#root = options.path.replace(/\/+$/, "") || "/";
    this.limits = {
      maxObjectSize: Number.MAX_SAFE_INTEGER,
      maxParts: Number.MAX_SAFE_INTEGER,
      minPartSize: 1,
      maxPartSize: 1024 * _MiB,
      equalParts: false,
      partSize: options.partSize ?? 16 * _MiB,
      concurrency: options.concurrency ?? 2,
    };
  }

  #path(key: string): string {
    _checkKey(key);
    return `${this.#root}/${key}`;
  }

  async *list(prefix = ""): AsyncIterable<RemoteObject> {
    // Walk only the directory the prefix points into.
    const slash = prefix.lastIndexOf("/");
    const base = slash >= 0 ? prefix.slice(0, slash) : "";
    const found: RemoteObject[] = [];
    await this.#walk(base, prefix, found);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async #walk(rel: string, prefix: string, out: RemoteObject[]): Promise<void> {
    const dir = rel ? `${this.#root}/${rel}` : this.#root;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && rel) return;
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `local remote ${this.id}: directory ${dir} does not exist; create it or fix the path`,
        );
      }
      throw e;
    }
    for (const entry of entries) {
      if (!rel && entry.name === PARTIAL_DIR) continue;
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) {
          await this.#walk(key, prefix, out);
        }
      } else if (entry.isFile && key.startsWith(prefix)) {
        try {
          const st = await Deno.stat(`${dir}/${entry.name}`);
          out.push({
            key,
            size: st.size,
            lastModified: st.mtime ?? undefined,
          });
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
    }
  }

  async head(key: string): Promise<RemoteObject | null> {
    try {
      const st = await Deno.stat(this.#path(key));
      if (!st.isFile) return null;
      return { key, size: st.size, lastModified: st.mtime ?? undefined };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  async get(
    key: string,
    options: { range?: ByteRange; ifMatch?: string } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(key), { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new NotFoundError(key, `local remote ${this.id}`);
      }
      throw e;
    }
    const start = options.range?.start ?? 0;
    const size = (await file.stat()).size;
    const end = Math.min(options.range?.end ?? size - 1, size - 1);
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
    let remaining = Math.max(0, end - start + 1);
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        file.close();
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (remaining <= 0) {
          close();
          controller.close();
          return;
        }
        const buf = new Uint8Array(Math.min(remaining, _MiB));
        const n = await file.read(buf);
        if (n === null) {
          close();
          controller.error(
            new Error(`local remote: ${key} ended ${remaining} bytes early`),
          );
          return;
        }
        remaining -= n;
        controller.enqueue(n === buf.length ? buf : buf.subarray(0, n));
      },
      cancel() {
        close();
      },
    });
  }

  async put(
    key: string,
    data: Uint8Array,
    _options?: PutOptions,
  ): Promise<CompletedObject> {
    const upload = await this.createMultipartUpload(key);
    try {
      const part = await upload.uploadPart(1, data, 0);
      return await upload.complete([part]);
    } catch (e) {
      await upload.abort();
      throw e;
    }
  }

  async createMultipartUpload(
    key: string,
    _options?: PutOptions,
  ): Promise<MultipartUpload> {
    const final = this.#path(key);
    const partialDir = `${this.#root}/${PARTIAL_DIR}`;
    await Deno.mkdir(partialDir, { recursive: true });
    const tmp = `${partialDir}/${crypto.randomUUID()}`;
    // Create it now so concurrent parts can each open it for writing.
    (await Deno.open(tmp, { write: true, createNew: true })).close();
    const root = this.#root;
    let state: "open" | "done" | "aborted" = "open";
    return {
      key,
      async uploadPart(partNumber, data, offset): Promise<PartReceipt> {
        if (state !== "open") throw new Error(`upload of ${key} is ${state}`);
        const f = await Deno.open(tmp, { write: true });
        try {
          if (offset > 0) await f.seek(offset, Deno.SeekMode.Start);
          let done = 0;
          while (done < data.length) {
            done += await f.write(data.subarray(done));
          }
        } finally {
          f.close();
        }
        return { partNumber, etag: `local-${partNumber}`, size: data.length };
      },
      async complete(parts): Promise<CompletedObject> {
        if (state !== "open") throw new Error(`upload of ${key} is ${state}`);
        const size = parts.reduce((s, p) => s + p.size, 0);
        const f = await Deno.open(tmp, { read: true, write: true });
        try {
          const st = await f.stat();
          if (st.size !== size) {
            throw new Error(
              `local remote: ${key} has ${st.size} bytes on disk, expected ${size}`,
            );
          }
          await f.sync();
        } finally {
          f.close();
        }
        const dir = final.slice(0, final.lastIndexOf("/"));
        await Deno.mkdir(dir, { recursive: true });
        await Deno.rename(tmp, final);
        state = "done";
        await _syncDir(dir);
        if (dir !== root) await _syncDir(root);
        return { key, size };
      },
      async abort(): Promise<void> {
        if (state === "open") state = "aborted";
        await Deno.remove(tmp).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      },
    };
  }

  async delete(keys: string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const path = this.#path(key);
      try {
        await Deno.remove(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      const slash = key.lastIndexOf("/");
      if (slash > 0) dirs.add(key.slice(0, slash));
    }
    // Tidy directories the deletes emptied, deepest first; never the root.
    const sorted = [...dirs].sort((a, b) => b.length - a.length);
    for (let dir of sorted) {
      while (dir) {
        try {
          await Deno.remove(`${this.#root}/${dir}`);
        } catch {
          break; // not empty, or gone
        }
        const slash = dir.lastIndexOf("/");
        dir = slash > 0 ? dir.slice(0, slash) : "";
      }
    }
  }

  async listOpenUploads(_prefix?: string): Promise<string[]> {
    try {
      const names: string[] = [];
      for await (const e of Deno.readDir(`${this.#root}/${PARTIAL_DIR}`)) {
        names.push(e.name);
      }
      return names.sort();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  }

  close(): void {}
}

function _checkKey(key: string): void {
  const parts = key.split("/");
  if (
    key === "" || key.includes("\0") ||
    parts.some((p) => p === "" || p === "." || p === "..") ||
    parts[0] === PARTIAL_DIR
  ) {
    throw new Error(
      `key ${
        JSON.stringify(key)
      } cannot be stored in a local directory: keys need non-empty path segments without "." or "..", and may not start with ${PARTIAL_DIR}`,
    );
  }
}

async function _syncDir(dir: string): Promise<void> {
  // fsync of the directory makes the rename itself durable.
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Some file systems (and platforms) refuse fsync on directories.
  }
}
