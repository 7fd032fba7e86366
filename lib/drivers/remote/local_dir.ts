/**
 * A local directory as a remote (the embedded default; also USB disks and NAS
 * mounts). Keys map to files; `/` in a key makes subdirectories. Writes go to
 * a temp file in `.snap2s3-partial/` under the root, are fsynced and renamed
 * into place, so a crash never leaves a half object under a final name.
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import { NotFoundError } from "./errors.ts";
import type * as R from "./remote.ts";
import {
  listPartials,
  LocalUpload,
  PARTIAL_DIR,
  removePartial,
  syncDir,
} from "./_local_upload.ts";
import { FILE_MODE } from "./_private_fs.ts";

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
export { PARTIAL_DIR };

/** Name of the marker file under the root (see {@linkcode R.RemoteMarker}). */
export const REMOTE_MARKER = ".snap2s3-remote";

/** Opens a local directory as a remote. */
export function localDirRemote(options: LocalDirRemoteOptions): R.Remote {
  return new _LocalDirRemote(options);
}

class _LocalDirRemote implements R.Remote {
  readonly id: string;
  readonly kind = "local" as const;
  readonly partChecksum = null;
  readonly objectMetadata = false;
  readonly limits: R.RemoteLimits;
  readonly marker: R.RemoteMarker;
  readonly #root: string;

  constructor(options: LocalDirRemoteOptions) {
    this.id = options.id;
    this.#root = options.path.replace(/\/+$/, "") || "/";
    this.marker = new _Marker(`${this.#root}/${REMOTE_MARKER}`);
    const partSize = options.partSize ?? 16 * MiB;
    const concurrency = options.concurrency ?? 2;
    this.limits = {
      maxObjectSize: Number.MAX_SAFE_INTEGER,
      maxParts: Number.MAX_SAFE_INTEGER,
      minPartSize: 1,
      maxPartSize: 1024 * MiB,
      equalParts: false,
      partSize,
      concurrency,
      memory: partSize * (concurrency + 1),
    };
  }

  #path(key: string): string {
    _checkKey(key);
    return `${this.#root}/${key}`;
  }

  async *list(prefix = ""): AsyncIterable<R.RemoteObject> {
    yield* await this.#listed(prefix, true);
  }

  async *listLevel(prefix = ""): AsyncIterable<R.RemoteObject> {
    yield* await this.#listed(prefix, false);
  }

  /** The files under `prefix`, in key order; `deep` walks subdirectories too. */
  async #listed(prefix: string, deep: boolean): Promise<R.RemoteObject[]> {
    // Read only the directory the prefix points into (and, deep, below it).
    const slash = prefix.lastIndexOf("/");
    const base = slash >= 0 ? prefix.slice(0, slash) : "";
    const found: R.RemoteObject[] = [];
    await this.#walk(base, prefix, found, deep);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return found;
  }

  async #walk(
    rel: string,
    prefix: string,
    out: R.RemoteObject[],
    deep: boolean,
  ): Promise<void> {
    const dir = rel ? `${this.#root}/${rel}` : this.#root;
    for (const entry of await this.#entries(dir, rel !== "")) {
      // A level listing passes over every dot name (partial files); a deep
      // one over our own: the partial directory and the marker.
      const skip = deep
        ? !rel && (entry.name === PARTIAL_DIR || entry.name === REMOTE_MARKER)
        : entry.name.startsWith(".");
      if (skip) continue;
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (
          deep &&
          (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix))
        ) {
          await this.#walk(key, prefix, out, deep);
        }
      } else if (entry.isFile && key.startsWith(prefix)) {
        const o = await _stat(`${dir}/${entry.name}`, key);
        if (o) out.push(o);
      }
    }
  }

  /** A directory's entries; a missing subdirectory has none, a missing root is an error. */
  async #entries(dir: string, sub: boolean): Promise<Deno.DirEntry[]> {
    try {
      return await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      if (sub) return [];
      throw new Error(
        `local remote ${this.id}: directory ${dir} does not exist; create it or fix the path`,
      );
    }
  }

  async head(key: string): Promise<R.RemoteObject | null> {
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
    options: R.GetOptions = {},
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
        const buf = new Uint8Array(Math.min(remaining, MiB));
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
    _options?: R.PutOptions,
  ): Promise<R.CompletedObject> {
    const upload = await LocalUpload.start(
      this.#root,
      key,
      this.#path(key),
      this.marker,
      false,
    );
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
    _options?: R.PutOptions,
  ): Promise<R.MultipartUpload> {
    return await LocalUpload.start(
      this.#root,
      key,
      this.#path(key),
      this.marker,
      true,
    );
  }

  async resumeUpload(key: string, id: string): Promise<R.ResumedUpload | null> {
    return await LocalUpload.resume(
      this.#root,
      key,
      this.#path(key),
      id,
      this.marker,
    );
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

  async listOpenUploads(prefix = ""): Promise<R.OpenUpload[]> {
    // A partial file of unknown key is listed only when everything is asked for.
    return (await listPartials(this.#root)).filter((u) =>
      u.key === null ? prefix === "" : u.key.startsWith(prefix)
    );
  }

  async abortOpenUpload(upload: R.OpenUpload): Promise<void> {
    await removePartial(this.#root, upload.id);
  }

  close(): void {}
}

/** The marker file; once seen or written, it is not looked for again. */
class _Marker implements R.RemoteMarker {
  #known = false;

  constructor(readonly path: string) {}

  async present(): Promise<boolean> {
    if (this.#known) return true;
    try {
      this.#known = (await Deno.stat(this.path)).isFile;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return this.#known;
  }

  async write(): Promise<void> {
    if (await this.present()) return;
    const text = "This directory is a snap2s3 remote: backups of btrfs " +
      "snapshots. snap2s3 refuses to write to it when this file is missing.\n";
    await Deno.writeTextFile(this.path, text, { mode: FILE_MODE });
    await Deno.chmod(this.path, FILE_MODE);
    await syncDir(this.path.slice(0, this.path.lastIndexOf("/")) || "/");
    this.#known = true;
  }
}

/** A file's listing entry; null when it vanished meanwhile. */
async function _stat(
  path: string,
  key: string,
): Promise<R.RemoteObject | null> {
  try {
    const st = await Deno.stat(path);
    return { key, size: st.size, lastModified: st.mtime ?? undefined };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function _checkKey(key: string): void {
  const parts = key.split("/");
  if (
    key === "" || key.includes("\0") ||
    parts.some((p) => p === "" || p === "." || p === "..") ||
    parts[0] === PARTIAL_DIR || key === REMOTE_MARKER
  ) {
    throw new Error(
      `key ${
        JSON.stringify(key)
      } cannot be stored in a local directory: keys need non-empty path segments without "." or "..", and may not start with ${PARTIAL_DIR} or be ${REMOTE_MARKER}`,
    );
  }
}
