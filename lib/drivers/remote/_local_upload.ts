/**
 * A write to a local-directory remote: parts land in a temp file in
 * `.snap2s3-partial/` under the root (concurrently, each at its offset); on
 * completion the file is checked, fsynced and renamed into place, so a crash
 * never leaves a half object under a final name.
 *
 * @module
 */

import type * as R from "./remote.ts";
import { createPrivateFile, makePrivateDirs } from "./_private_fs.ts";

/** Name of the directory under the root that holds writes in progress. */
export const PARTIAL_DIR = ".snap2s3-partial";

/** One write in progress. */
export class LocalUpload implements R.MultipartUpload {
  #state: "open" | "done" | "aborted" = "open";

  private constructor(
    readonly root: string,
    readonly key: string,
    readonly final: string,
    readonly tmp: string,
    readonly marker: R.RemoteMarker,
  ) {}

  /**
   * Opens the temp file of a write of `key` to `final` (its path); the
   * `marker` is written with the first object completed.
   */
  static async start(
    root: string,
    key: string,
    final: string,
    marker: R.RemoteMarker,
  ): Promise<LocalUpload> {
    const partialDir = `${root}/${PARTIAL_DIR}`;
    await makePrivateDirs(root, partialDir);
    const tmp = `${partialDir}/${crypto.randomUUID()}`;
    // Create it now so concurrent parts can each open it for writing.
    await createPrivateFile(tmp);
    return new LocalUpload(root, key, final, tmp, marker);
  }

  #checkOpen(): void {
    if (this.#state !== "open") {
      throw new Error(`upload of ${this.key} is ${this.#state}`);
    }
  }

  /** Writes the part at its offset. */
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
    } finally {
      f.close();
    }
    return { partNumber, etag: `local-${partNumber}`, size: data.length };
  }

  /** Checks the size, makes the bytes durable and renames the file into place. */
  async complete(parts: R.PartReceipt[]): Promise<R.CompletedObject> {
    this.#checkOpen();
    const size = parts.reduce((s, p) => s + p.size, 0);
    const f = await Deno.open(this.tmp, { read: true, write: true });
    try {
      const st = await f.stat();
      if (st.size !== size) {
        throw new Error(
          `local remote: ${this.key} has ${st.size} bytes on disk, expected ${size}`,
        );
      }
      await f.sync();
    } finally {
      f.close();
    }
    const dir = this.final.slice(0, this.final.lastIndexOf("/"));
    await makePrivateDirs(this.root, dir);
    await Deno.rename(this.tmp, this.final);
    this.#state = "done";
    await syncDir(dir);
    if (dir !== this.root) await syncDir(this.root);
    await this.marker.write();
    return { key: this.key, size };
  }

  /** Removes the temp file; safe to call more than once. */
  async abort(): Promise<void> {
    if (this.#state === "open") this.#state = "aborted";
    await Deno.remove(this.tmp).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
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
