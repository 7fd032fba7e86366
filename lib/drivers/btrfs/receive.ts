/**
 * `btrfs receive` from a web stream, returning the received subvolume.
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { SubvolumeInfo } from "../../core/types.ts";
import { exitText, spawnBtrfs } from "./command.ts";
import { BtrfsError, fsError } from "./errors.ts";
import { filesystemUuid } from "./ffi.ts";
import {
  parseSendStreamHead,
  type SendStreamHead,
  sendStreamHeadNeeds,
} from "./send_stream.ts";
import { getSubvolumeInfo } from "./subvolume.ts";

/**
 * Feeds `stream` (a `btrfs send` stream, full or differential) to
 * `btrfs receive intoDir` and returns the received subvolume's info. The
 * subvolume is found by the name in the stream's first command (which btrfs
 * receive also prints) and checked to carry the stream's uuid as its received
 * uuid.
 *
 * If `stream` errors, btrfs receive is killed before it can finish the
 * subvolume and the error is rethrown; if btrfs receive fails, `stream` is
 * cancelled and the error includes its stderr. Either way a partly received,
 * writable subvolume may remain; the error names it, and it is not deleted.
 *
 * Needs root, `--allow-run=btrfs`, `--allow-ffi` and `--allow-read`.
 */
export async function receive(
  stream: ReadableStream<Uint8Array>,
  intoDir: string,
): Promise<SubvolumeInfo> {
  const dir = resolve(intoDir);
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new BtrfsError("not-found", `${dir} is not a directory`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BtrfsError(
        "not-found",
        `receive directory ${dir} does not exist: create it on a btrfs filesystem`,
      );
    }
    throw fsError(e, dir, "read");
  }
  filesystemUuid(dir); // throws "not on btrfs" with the fix
  const child = spawnBtrfs(["receive", dir], {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const output = Promise.all([
    new Response(child.stdout).text().catch(() => ""),
    new Response(child.stderr).text().catch(() => ""),
  ]).then(([o, e]) => o + e);
  const writer = child.stdin.getWriter();
  const reader = stream.getReader();
  let head: SendStreamHead | null = null;
  let pending: Uint8Array | null = new Uint8Array(0);
  const partial = (): string =>
    head
      ? `; a partly received subvolume may remain at ${
        join(dir, head.name)
      } (remove it with \`btrfs subvolume delete\` before retrying)`
      : "";

  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      // Kill rather than close stdin: btrfs receive must not finish a truncated subvolume.
      _kill(child);
      await child.status;
      await writer.abort().catch(() => {});
      throw new BtrfsError(
        "command-failed",
        `the stream being received failed, so btrfs receive was stopped: ${
          e instanceof Error ? e.message : e
        }${partial()}`,
        { cause: e },
      );
    }
    if (chunk.done) break;
    if (pending !== null) {
      // Hold back the first bytes until the first command is known.
      pending = _concat(pending, chunk.value);
      const needs = sendStreamHeadNeeds(pending);
      if (needs !== -1) continue;
      head = parseSendStreamHead(pending);
      if (head === null) {
        _kill(child);
        await child.status;
        await reader.cancel("not a btrfs send stream").catch(() => {});
        throw new BtrfsError(
          "command-failed",
          "the data given to btrfs receive is not a btrfs send stream (no btrfs-stream header with a subvolume or snapshot command)",
        );
      }
      chunk = { done: false, value: pending };
      pending = null;
    }
    try {
      await writer.write(chunk.value);
    } catch {
      // btrfs receive stopped reading: its exit status and stderr say why.
      await reader.cancel("btrfs receive failed").catch(() => {});
      break;
    }
  }
  if (pending !== null && pending.length > 0) {
    // Shorter than one command: let btrfs receive judge it (it will fail).
    await writer.write(pending).catch(() => {});
  }
  await writer.close().catch(() => {});
  const status = await child.status;
  const text = await output;
  if (!status.success) {
    throw new BtrfsError(
      "command-failed",
      `btrfs receive ${dir} ${exitText(status)}: ${
        _errorLines(text)
      }${partial()}`,
    );
  }
  const name = head?.name ??
    /^At (?:subvol|snapshot) (.+)$/m.exec(text)?.[1];
  if (name === undefined) {
    throw new BtrfsError(
      "command-failed",
      `btrfs receive ${dir} succeeded but named no subvolume: ${text.trim()}`,
    );
  }
  const info = await getSubvolumeInfo(join(dir, name));
  if (head && info.receivedUuid !== head.uuid) {
    throw new BtrfsError(
      "command-failed",
      `${info.path} has received uuid ${info.receivedUuid}, not the stream's ${head.uuid}`,
    );
  }
  return info;
}

function _concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function _kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
}

function _errorLines(text: string): string {
  const lines = text.trim().split("\n").filter((l) => l.trim());
  const errors = lines.filter((l) => l.startsWith("ERROR"));
  return (errors.length ? errors : lines).join("; ") || "(no message)";
}
