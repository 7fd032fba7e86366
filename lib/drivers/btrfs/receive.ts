/**
 * `btrfs receive` from a web stream, returning the received subvolume.
 *
 * Safety: btrfs receive runs with `--chroot`, so no path in the stream (a
 * symlink to `/`, a `..`) reaches outside the destination; and nothing is
 * given to it before the stream's first command was read and, when the
 * caller knows what the stream must be (its backup key), checked.
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { SubvolumeInfo } from "../../core/types.ts";
import { errorText, exitText, killQuietly, spawnBtrfs } from "./command.ts";
import { BtrfsError, fsError, isDenoPermissionError } from "./errors.ts";
import { enlargePipe, filesystemUuid } from "./ffi.ts";
import {
  type ExpectedSendStream,
  readSendStreamHead,
  type SendStreamHead,
} from "./send_stream.ts";
import { getSubvolumeInfo, statPath } from "./subvolume.ts";

/** Options of {@linkcode receive}. */
export interface ReceiveOptions {
  /**
   * What the stream must create (from its backup's key). A stream whose
   * first command differs is refused before btrfs receive starts.
   */
  expect?: ExpectedSendStream;
  /** Names the stream in error messages (e.g. its backup key). */
  label?: string;
}

/**
 * Checks that `intoDir` can receive: it exists, is a directory on btrfs, and
 * is writable (a probe directory is made and removed at once).
 *
 * @param intoDir The destination.
 * @returns Its absolute path.
 * @throws {BtrfsError} "not-found", "not-btrfs", "read-only" or "permission", with the fix.
 */
export async function checkReceiveDir(intoDir: string): Promise<string> {
  const dir = resolve(intoDir);
  const stat = await statPath(
    dir,
    `destination ${dir} does not exist: create it on a btrfs filesystem`,
  );
  if (!stat.isDirectory) {
    throw new BtrfsError(
      "not-found",
      `destination ${dir} is not a directory: give a directory on a btrfs filesystem`,
    );
  }
  filesystemUuid(dir); // throws "not on btrfs" with the fix
  const probe = join(dir, `.snap2s3-probe-${Deno.pid}`);
  try {
    await Deno.mkdir(probe);
  } catch (e) {
    if (isDenoPermissionError(e)) throw fsError(e, dir, "write");
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new BtrfsError(
        "permission",
        `destination ${dir} is not writable by this user: btrfs receive needs root`,
        { cause: e },
      );
    }
    throw new BtrfsError(
      "read-only",
      `destination ${dir} is not writable (${
        e instanceof Error ? e.message : e
      }): give a directory on a btrfs mounted read-write, outside any read-only snapshot`,
      { cause: e },
    );
  }
  await Deno.remove(probe);
  return dir;
}

/**
 * Feeds `stream` (a `btrfs send` stream, full or differential) to
 * `btrfs receive --chroot intoDir` and returns the received subvolume's
 * info. The first command is read before btrfs receive starts: data that is
 * not a send stream, or (with `options.expect`) a stream of another snapshot
 * or parent than expected, is refused with nothing received. The subvolume
 * is found by the name in that command and checked to carry the stream's
 * uuid as its received uuid.
 *
 * If `stream` errors, btrfs receive is killed before it can finish the
 * subvolume and the error is rethrown; if btrfs receive fails, `stream` is
 * cancelled and the error includes its stderr. Either way a partly received,
 * writable subvolume may remain; the error names it, and it is not deleted.
 *
 * Needs root, `--allow-run=btrfs`, `--allow-ffi`, `--allow-read` and `--allow-write`.
 */
export async function receive(
  stream: ReadableStream<Uint8Array>,
  intoDir: string,
  options: ReceiveOptions = {},
): Promise<SubvolumeInfo> {
  let dir: string;
  try {
    dir = await checkReceiveDir(intoDir);
  } catch (e) {
    await stream.cancel("not received").catch(() => {});
    throw e;
  }
  const { head, stream: checked } = await readSendStreamHead(stream, {
    expect: options.expect,
    label: options.label,
  });
  const child = spawnBtrfs(["receive", "--chroot", dir], {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  // A pipe as large as our writes: one wake-up of btrfs receive per write,
  // not one per 64 KiB. Best effort; works without it.
  enlargePipe(child.pid, 0, _CHUNK);
  const output = Promise.all([
    new Response(child.stdout).text().catch(() => ""),
    new Response(child.stderr).text().catch(() => ""),
  ]).then(([o, e]) => o + e);
  const partial = `; a partly received subvolume may remain at ${
    join(dir, head.name)
  } (remove it with \`btrfs subvolume delete\` before retrying)`;
  await _feed(child, _chunks(checked), partial);
  const status = await child.status;
  if (!status.success) {
    throw new BtrfsError(
      "command-failed",
      `btrfs receive ${dir} ${exitText(status)}: ${
        errorText(await output)
      }${partial}`,
    );
  }
  return await _received(dir, head);
}

/**
 * Copies the stream into btrfs receive's stdin. A failing stream kills
 * btrfs receive rather than closing its stdin: it must not finish a
 * truncated subvolume.
 */
async function _feed(
  child: Deno.ChildProcess,
  reader: _ChunkReader,
  partial: string,
): Promise<void> {
  const writer = child.stdin.getWriter();
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (e) {
      killQuietly(child, "SIGKILL");
      await child.status;
      await writer.abort().catch(() => {});
      throw new BtrfsError(
        "command-failed",
        `the stream being received failed, so btrfs receive was stopped: ${
          e instanceof Error ? e.message : e
        }${partial}`,
        { cause: e },
      );
    }
    if (next.done) break;
    try {
      await writer.write(next.value);
    } catch {
      // btrfs receive stopped reading: its exit status and stderr say why.
      await reader.cancel("btrfs receive failed").catch(() => {});
      break;
    }
  }
  await writer.close().catch(() => {});
}

/** The received subvolume, checked to carry the stream's uuid as received uuid. */
async function _received(
  dir: string,
  head: SendStreamHead,
): Promise<SubvolumeInfo> {
  const info = await getSubvolumeInfo(join(dir, head.name));
  if (info.receivedUuid !== head.uuid) {
    throw new BtrfsError(
      "command-failed",
      `${info.path} has received uuid ${info.receivedUuid}, not the stream's ${head.uuid}`,
    );
  }
  return info;
}

/** Chunk size of byte streams, read into one reused buffer. */
const _CHUNK = 1 << 20;

/** Reads chunks of a stream. */
interface _ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Reads a stream: a byte stream into one reused buffer (a chunk is valid
 * until the next read, and has been written by then), so no memory is
 * allocated per chunk; any other stream chunk by chunk.
 */
function _chunks(stream: ReadableStream<Uint8Array>): _ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    return stream.getReader();
  }
  let buffer = new ArrayBuffer(_CHUNK);
  return {
    async read() {
      const r = await byob.read(new Uint8Array(buffer));
      if (r.value) buffer = r.value.buffer as ArrayBuffer;
      return r as ReadableStreamReadResult<Uint8Array>;
    },
    cancel: (reason) => byob.cancel(reason),
  };
}
