/**
 * A write to a local-directory remote: parts land in a temp file in
 * `.snap2s3-partial/` under the root (concurrently, each at its offset); on
 * completion the file is checked, fsynced and renamed into place, so a crash
 * never leaves a half object under a final name.
 *
 * Beside the temp file `<id>`, `<id>.key` names the key it is for (so a
 * later run can tell whose it is), and for a multipart write `<id>.parts`
 * records each part once its bytes are durable (so a later run can take the
 * write up again, as S3's ListParts allows).
 *
 * @module
 */

import type * as R from "./remote.ts";
import {
  createPrivateFile,
  FILE_MODE,
  makePrivateDirs,
} from "./_private_fs.ts";

/** Name of the directory under the root that holds writes in progress. */
export const PARTIAL_DIR = ".snap2s3-partial";

const _KEY = ".key";
const _PARTS = ".parts";

/** One write in progress. */
export class LocalUpload implements R.ResumedUpload {
  #state: "open" | "done" | "aborted" = "open";
  #resumed = false;
  readonly id: string;
  readonly tmp: string;

  private constructor(
    readonly root: string,
    readonly key: string,
    readonly final: string,
    id: string,
    readonly marker: R.RemoteMarker,
    readonly journal: boolean,
    readonly stored: readonly R.PartReceipt[] = [],
  ) {
    this.id = id;
    this.tmp = `${partialDir(root)}/${id}`;
  }

  /**
   * Opens the temp file of a write of `key` to `final` (its path); the
   * `marker` is written with the first object completed; `journal` records
   * parts for a later resume (multipart writes).
   */
  static async start(
    root: string,
    key: string,
    final: string,
    marker: R.RemoteMarker,
    journal: boolean,
  ): Promise<LocalUpload> {
    await makePrivateDirs(root, partialDir(root));
    const id = crypto.randomUUID();
    const upload = new LocalUpload(root, key, final, id, marker, journal);
    // Create it now so concurrent parts can each open it for writing.
    await createPrivateFile(upload.tmp);
    await Deno.writeTextFile(`${upload.tmp}${_KEY}`, key, { mode: FILE_MODE });
    return upload;
  }

  /** Takes up the write `id` of `key` again; null when it is gone or for another key. */
  static async resume(
    root: string,
    key: string,
    final: string,
    id: string,
    marker: R.RemoteMarker,
  ): Promise<LocalUpload | null> {
    if (!_isId(id)) return null;
    const tmp = `${partialDir(root)}/${id}`;
    let size: number;
    try {
      if ((await Deno.readTextFile(`${tmp}${_KEY}`)) !== key) return null;
      size = (await Deno.stat(tmp)).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const byNumber = new Map<number, R.PartReceipt>();
    for (const p of await _readJournal(`${tmp}${_PARTS}`)) {
      if (p.offset + p.size <= size) {
        byNumber.set(p.partNumber, {
          partNumber: p.partNumber,
          etag: _etag(p.partNumber),
          size: p.size,
        });
      }
    }
    const stored = [...byNumber.values()].sort((a, b) =>
      a.partNumber - b.partNumber
    );
    const upload = new LocalUpload(root, key, final, id, marker, true, stored);
    upload.#resumed = true;
    return upload;
  }

  #checkOpen(): void {
    if (this.#state !== "open") {
      throw new Error(`upload of ${this.key} is ${this.#state}`);
    }
  }

  /** Writes the part at its offset (durably, and recorded, when journalled). */
  async uploadPart(
    partNumber: number,
    data: Uint8Array,
    offset: number,
  ): Promise<R.PartReceipt> {
    this.#checkOpen();
    const f = await Deno.open(this.tmp, { write: true });
    try {
      if (offset > 0) await f.seek(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < data.length) done += await f.write(data.subarray(done));
      // Recorded only once durable: a resume never trusts bytes a crash lost.
      if (this.journal) await f.syncData();
    } finally {
      f.close();
    }
    if (this.journal) {
      await Deno.writeTextFile(
        `${this.tmp}${_PARTS}`,
        JSON.stringify({ partNumber, offset, size: data.length }) + "\n",
        { append: true, mode: FILE_MODE },
      );
    }
    return { partNumber, etag: _etag(partNumber), size: data.length };
  }

  /** Checks the size, makes the bytes durable and renames the file into place. */
  async complete(parts: R.PartReceipt[]): Promise<R.CompletedObject> {
    this.#checkOpen();
    const size = parts.reduce((s, p) => s + p.size, 0);
    const f = await Deno.open(this.tmp, { read: true, write: true });
    try {
      const st = await f.stat();
      if (st.size !== size) {
        // A resumed write may hold bytes past the end of the new stream.
        if (st.size > size && this.#resumed) await f.truncate(size);
        else {
          throw new Error(
            `local remote: ${this.key} has ${st.size} bytes on disk, expected ${size}`,
          );
        }
      }
      await f.sync();
    } finally {
      f.close();
    }
    const dir = this.final.slice(0, this.final.lastIndexOf("/"));
    await makePrivateDirs(this.root, dir);
    await Deno.rename(this.tmp, this.final);
    this.#state = "done";
    await removeSidecars(this.root, this.id);
    await syncDir(dir);
    if (dir !== this.root) await syncDir(this.root);
    await this.marker.write();
    return { key: this.key, size };
  }

  /** Removes the temp file; safe to call more than once. */
  async abort(): Promise<void> {
    if (this.#state === "open") this.#state = "aborted";
    await _removeIfThere(this.tmp);
    await removeSidecars(this.root, this.id);
  }
}

/** The directory of writes in progress under `root`. */
export function partialDir(root: string): string {
  return `${root}/${PARTIAL_DIR}`;
}

/** The writes in progress under `root`: each temp file with the key it is for, when recorded. */
export async function listPartials(root: string): Promise<R.OpenUpload[]> {
  const dir = partialDir(root);
  const found: R.OpenUpload[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile || e.name.endsWith(_KEY) || e.name.endsWith(_PARTS)) continue;
    let key: string | null = null;
    let initiated: Date | undefined;
    try {
      key = await Deno.readTextFile(`${dir}/${e.name}${_KEY}`);
    } catch { /* written by an older version: whose it is is unknown */ }
    try {
      initiated = (await Deno.stat(`${dir}/${e.name}`)).mtime ?? undefined;
    } catch { /* removed meanwhile */ }
    found.push({ key, id: e.name, initiated });
  }
  return found.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Removes a write in progress and what records it. */
export async function removePartial(root: string, id: string): Promise<void> {
  if (!_isId(id)) {
    throw new Error(
      `local remote: ${JSON.stringify(id)} is not a partial file`,
    );
  }
  await _removeIfThere(`${partialDir(root)}/${id}`);
  await removeSidecars(root, id);
}

/** Removes the `.key` and `.parts` files of write `id`. */
export async function removeSidecars(root: string, id: string): Promise<void> {
  const base = `${partialDir(root)}/${id}`;
  await _removeIfThere(`${base}${_KEY}`);
  await _removeIfThere(`${base}${_PARTS}`);
}

/** fsyncs a directory, which makes a rename in it durable. */
export async function syncDir(dir: string): Promise<void> {
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

function _etag(partNumber: number): string {
  return `local-${partNumber}`;
}

function _isId(id: string): boolean {
  return /^[0-9a-zA-Z-]+$/.test(id);
}

async function _removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

async function _readJournal(
  path: string,
): Promise<{ partNumber: number; offset: number; size: number }[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const parts = [];
  for (const line of text.split("\n")) {
    try {
      const p = JSON.parse(line);
      if (
        Number.isSafeInteger(p?.partNumber) && Number.isSafeInteger(p.offset) &&
        Number.isSafeInteger(p.size)
      ) parts.push(p);
    } catch { /* a line cut short by a crash */ }
  }
  return parts;
}
