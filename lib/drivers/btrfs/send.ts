/**
 * `btrfs send` as a web stream: full or differential (`-p`), optionally in
 * send protocol 2 with compressed extents sent as they are on disk. The
 * stream ends only after btrfs exited successfully, and errors otherwise, so
 * a truncated stream is never mistaken for a complete one.
 *
 * @module
 */

import { resolve } from "node:path";
import type { SubvolumeInfo } from "../../core/types.ts";
import { exitText, killQuietly, runBtrfs, spawnBtrfs } from "./command.ts";
import { BtrfsError } from "./errors.ts";
import { enlargePipe, readSmallFile } from "./ffi.ts";
import { assertSameFilesystem, getSubvolumeInfo } from "./subvolume.ts";

/** Options for {@linkcode send}. */
export interface SendOptions {
  /** Send only the difference from this read-only snapshot (`btrfs send -p`). */
  parent?: string;
  /**
   * Send stream protocol. Default 1, readable by every btrfs receive. 2 needs
   * Linux 6.0+ and btrfs-progs 6.0+ (see {@linkcode sendCapabilities}).
   */
  protocol?: 1 | 2;
  /**
   * Send compressed extents without decompressing them (`--compressed-data`,
   * implies protocol 2). Off by default; refused with a clear error where the
   * kernel or btrfs-progs lacks it.
   */
  compressedData?: boolean;
}

/** What this machine's kernel and btrfs-progs support for `btrfs send`. */
export interface SendCapabilities {
  /** btrfs-progs version as printed by `btrfs --version` (e.g. "6.2"), or null if unknown. */
  progsVersion: string | null;
  /** Highest send stream version the kernel produces (/sys/fs/btrfs/features/send_stream_version; 1 when absent). */
  kernelProtocol: number;
  /** Whether `btrfs send` accepts `--proto`. */
  progsProtocol: boolean;
  /** Whether `btrfs send` accepts `--compressed-data`. */
  progsCompressedData: boolean;
  /** Whether protocol 2 can be used here (kernel and btrfs-progs). */
  protocol2: boolean;
  /** Whether `compressedData: true` can be used here. */
  compressedData: boolean;
}

const _KERNEL_FEATURE = "/sys/fs/btrfs/features/send_stream_version";

let _caps: Promise<SendCapabilities> | undefined;

// Chunks for readers without a buffer: fresh buffers of 256 KiB cost clearly
// less CPU than 1 MiB ones (measured: allocations this size are recycled
// rather than page-faulted in).
const _READ_SIZE = 1 << 18;
const _PIPE_SIZE = 1 << 20;
const _SMALL_READ = 1 << 16;

/**
 * Detects (once, then cached) whether the kernel and btrfs-progs support send
 * protocol 2 and `--compressed-data`. Needs `--allow-run=btrfs` and
 * `--allow-ffi` (Deno reads /sys only with --allow-all, so libc reads the
 * kernel's send_stream_version).
 */
export function sendCapabilities(): Promise<SendCapabilities> {
  _caps ??= _detect().catch((e) => {
    _caps = undefined;
    throw e;
  });
  return _caps;
}

async function _detect(): Promise<SendCapabilities> {
  // Absent before Linux 5.19 (protocol 1 only).
  const feature = readSmallFile(_KERNEL_FEATURE);
  const n = feature === null ? 1 : parseInt(feature, 10);
  const kernelProtocol = Number.isFinite(n) ? n : 1;
  const version = await runBtrfs(["--version"]);
  const progsVersion = /v?(\d+(?:\.\d+)*)/.exec(version.stdout)?.[1] ?? null;
  // `btrfs send --help` exits 0 and prints usage to stdout in btrfs-progs 6.x.
  const help = await _sendHelp();
  const progsProtocol = /--proto\b/.test(help);
  const progsCompressedData = /--compressed-data\b/.test(help);
  const protocol2 = kernelProtocol >= 2 && progsProtocol;
  return {
    progsVersion,
    kernelProtocol,
    progsProtocol,
    progsCompressedData,
    protocol2,
    compressedData: protocol2 && progsCompressedData,
  };
}

async function _sendHelp(): Promise<string> {
  const child = spawnBtrfs(["send", "--help"], {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const dec = new TextDecoder();
  return dec.decode(out.stdout) + dec.decode(out.stderr);
}

/**
 * Throws a clear error unless `options` can be honoured by this kernel and
 * btrfs-progs (or by `caps`, when given).
 */
export async function assertSendOptionsSupported(
  options: SendOptions,
  caps?: SendCapabilities,
): Promise<void> {
  const protocol = options.compressedData ? 2 : options.protocol ?? 1;
  if (protocol !== 1 && protocol !== 2) {
    throw new BtrfsError(
      "unsupported",
      `send protocol ${protocol} is unknown: use 1 or 2`,
    );
  }
  if (protocol === 1) return;
  caps ??= await sendCapabilities();
  const what = options.compressedData
    ? "sending compressed data (--compressed-data, send protocol 2)"
    : "send protocol 2";
  if (caps.kernelProtocol < 2) {
    throw new BtrfsError(
      "unsupported",
      `${what} is not supported by this kernel (send stream version ${caps.kernelProtocol}; needs Linux 6.0 or later): turn the option off`,
    );
  }
  const lacks = !caps.progsProtocol
    ? "--proto"
    : options.compressedData && !caps.progsCompressedData
    ? "--compressed-data"
    : null;
  if (lacks) {
    throw new BtrfsError(
      "unsupported",
      `${what} is not supported by btrfs-progs ${
        caps.progsVersion ?? "(unknown version)"
      } (\`btrfs send --help\` lacks ${lacks}): upgrade btrfs-progs to 6.0 or later, or turn the option off`,
    );
  }
}

/**
 * Starts `btrfs send` of the read-only `snapshot` (differential against
 * `options.parent` when given) and returns its stdout as a stream.
 *
 * The stream closes only once btrfs exited with status 0; if it fails or is
 * killed the stream errors with a {@linkcode BtrfsError} that includes
 * btrfs's stderr. Cancelling the stream kills the process. Checks (not a
 * read-only subvolume, parent on another filesystem, unsupported protocol,
 * missing btrfs or permission) throw before anything is spawned.
 *
 * Needs root (the send ioctl requires CAP_SYS_ADMIN), `--allow-run=btrfs`,
 * `--allow-ffi` and `--allow-read`.
 */
export async function send(
  snapshot: string,
  options: SendOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const snap = await _readOnlySubvolume(snapshot, "snapshot to send");
  const args = ["send"];
  if (options.parent !== undefined) {
    const parent = await _readOnlySubvolume(options.parent, "send parent");
    assertSameFilesystem(snap.path, parent.path);
    args.push("-p", parent.path);
  }
  await assertSendOptionsSupported(options);
  if (options.compressedData) args.push("--proto", "2", "--compressed-data");
  else if (options.protocol === 2) args.push("--proto", "2");
  args.push(snap.path);
  return commandStream(args);
}

/**
 * Spawns `btrfs <args>` and returns its stdout as a stream that closes only
 * after a zero exit status, errors (with stderr) otherwise, and kills the
 * process when cancelled. A byte stream: a reader with its own buffer (BYOB,
 * as the upload's part buffers) gets the output read straight into it;
 * other readers get chunks of up to 256 KiB.
 */
export function commandStream(args: string[]): ReadableStream<Uint8Array> {
  const child = spawnBtrfs(args, {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  // A 1 MiB pipe lets reads return more than 64 KiB and lets btrfs run
  // ahead of us: fewer reads and wake-ups. Best effort; works without it.
  const big = enlargePipe(child.pid, 1, _PIPE_SIZE);
  const stderr = new Response(child.stderr).text().catch(() => "");
  const reader = child.stdout.getReader({ mode: "byob" });
  let cancelled = false;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: big ? _READ_SIZE : _SMALL_READ,
    async pull(controller): Promise<void> {
      const request = controller.byobRequest!;
      const view = request.view!;
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        );
      } catch (e) {
        killQuietly(child, "SIGTERM");
        await child.status;
        controller.error(
          new BtrfsError(
            "command-failed",
            `reading the output of btrfs ${args.join(" ")} failed: ${e}`,
            { cause: e },
          ),
        );
        return;
      }
      if (!chunk.done) {
        request.respondWithNewView(chunk.value);
        return;
      }
      // End of output is not success: only the exit status tells.
      const status = await child.status;
      if (cancelled) return;
      if (status.success) {
        controller.close();
        // The reader's buffer goes back to it, empty.
        if (chunk.value) request.respondWithNewView(chunk.value);
        return;
      }
      const text = (await stderr).trim().split("\n").filter((l) =>
        !/^At (subvol|snapshot) /.test(l)
      ).join("; ");
      controller.error(
        new BtrfsError(
          "command-failed",
          `btrfs ${args.join(" ")} ${
            exitText(status)
          }, so its stream is incomplete${text ? `: ${text}` : ""}`,
        ),
      );
    },
    async cancel(reason): Promise<void> {
      cancelled = true;
      killQuietly(child, "SIGTERM");
      await reader.cancel(reason).catch(() => {});
      await child.status;
      await stderr;
    },
  });
}

async function _readOnlySubvolume(
  path: string,
  what: string,
): Promise<SubvolumeInfo> {
  const info = await getSubvolumeInfo(resolve(path));
  if (!info.readOnly) {
    throw new BtrfsError(
      "not-snapshot",
      `${what} ${info.path} is writable: btrfs send needs a read-only snapshot`,
    );
  }
  return info;
}
