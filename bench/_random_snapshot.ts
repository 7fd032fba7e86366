/**
 * A loop-mounted btrfs holding a read-only snapshot of incompressible data,
 * for the benchmarks. Needs root.
 *
 * @module
 */

import { type BtrfsFixture, createBtrfs } from "../tests/fixtures/btrfs.ts";
import { run } from "../tests/fixtures/process.ts";
import { createSnapshot } from "../lib/drivers/btrfs/snapshots.ts";

/** A snapshot to send, on its own filesystem. */
export interface RandomSnapshot extends AsyncDisposable {
  /** Path of the read-only snapshot. */
  snapshot: string;
  /** The filesystem (room for `spare` more MiB, e.g. received copies). */
  fs: BtrfsFixture;
  /** Unmounts and deletes everything. */
  close(): Promise<void>;
}

/**
 * Makes a btrfs with a snapshot of one file of `mib` MiB of random data,
 * and `spareMiB` MiB free besides.
 */
export async function randomSnapshot(
  mib: number,
  spareMiB = 0,
): Promise<RandomSnapshot> {
  // Room for the data plus metadata (DUP) and slack.
  const fs = await createBtrfs({ sizeMiB: mib + spareMiB + 512 });
  try {
    const src = `${fs.mountPoint}/src`;
    await run(["btrfs", "subvolume", "create", src]);
    await Deno.mkdir(`${fs.mountPoint}/snaps`);
    const file = await Deno.open(`${src}/random.bin`, {
      write: true,
      create: true,
    });
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < mib; i++) {
      for (let o = 0; o < chunk.length; o += 65536) {
        crypto.getRandomValues(chunk.subarray(o, o + 65536));
      }
      for (let w = 0; w < chunk.length;) {
        w += await file.write(chunk.subarray(w));
      }
    }
    file.close();
    const snap = await createSnapshot(src, `${fs.mountPoint}/snaps`, "s");
    const close = () => fs.close();
    return { snapshot: snap.path, fs, close, [Symbol.asyncDispose]: close };
  } catch (e) {
    await fs.close();
    throw e;
  }
}
