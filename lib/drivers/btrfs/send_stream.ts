/**
 * Reading the start of a btrfs send stream: the header and the first command
 * (SUBVOL for a full stream, SNAPSHOT for a differential), which name the
 * subvolume and carry the uuid that btrfs receive records as received uuid.
 *
 * Format: the magic `btrfs-stream\0`, a le32 version, then commands, each a
 * le32 payload length, le16 command, le32 CRC32C (of the command with this
 * field zeroed, seed 0, no final xor) and TLV attributes (le16 type, le16
 * length, value).
 *
 * @module
 */

import { BtrfsError } from "./errors.ts";
import { formatUuid } from "./ffi.ts";

/** The subvolume a send stream creates, from its first command. */
export interface SendStreamHead {
  /** Stream format version (1 or 2). */
  version: number;
  /** Name of the subvolume btrfs receive creates. */
  name: string;
  /** Uuid of the sent snapshot: the received subvolume's received uuid. */
  uuid: string;
  /** ctransid of the sent snapshot. */
  ctransid: number;
  /** For a differential stream, the uuid of the parent it needs; null for a full one. */
  parentUuid: string | null;
}

/** What a stream must create, from its backup's key; checked before btrfs receive sees a byte. */
export interface ExpectedSendStream {
  /** `.uuid`: the snapshot sent. */
  uuid: string;
  /** `.ctid`: its ctransid. */
  ctransid: number;
  /** `.sndp`: the parent a differential stream needs; null for a full stream. */
  parentUuid: string | null;
  /** The parent's ctransid (its own key's `.ctid`), when known. */
  parentCtransid?: number;
}

const _MAGIC = "btrfs-stream\0";
const _HEADER = 17; // magic[13] + le32 version
const _CMD_HEADER = 10; // le32 len, le16 cmd, le32 crc
const _CMD_SUBVOL = 1;
const _CMD_SNAPSHOT = 2;
const _A_UUID = 1;
const _A_CTRANSID = 2;
const _A_PATH = 15;
const _A_CLONE_UUID = 20;
const _A_CLONE_CTRANSID = 21;

interface _Head extends SendStreamHead {
  parentCtransid: number | null;
  crcOk: boolean;
}

/**
 * Bytes needed before {@linkcode parseSendStreamHead} can decide; -1 when
 * `buf` is already enough (or is not a send stream).
 */
export function sendStreamHeadNeeds(buf: Uint8Array): number {
  if (buf.length < _HEADER + _CMD_HEADER) return _HEADER + _CMD_HEADER;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = dv.getUint32(_HEADER, true);
  // A first command larger than this is not one btrfs writes; let the parser reject it.
  if (len > 1 << 16) return -1;
  const total = _HEADER + _CMD_HEADER + len;
  return buf.length < total ? total : -1;
}

/**
 * Parses the stream header and first command. Returns null when `buf` does
 * not start like a btrfs send stream with a SUBVOL or SNAPSHOT command.
 */
export function parseSendStreamHead(buf: Uint8Array): SendStreamHead | null {
  const head = _parseHead(buf);
  if (head === null) return null;
  const { version, name, uuid, ctransid, parentUuid } = head;
  return { version, name, uuid, ctransid, parentUuid };
}

/**
 * Why the start of a stream is not the one its key promises, or null when it
 * is: not a send stream, a first command whose CRC32C does not match, a
 * subvolume name that is not one plain directory entry, or a uuid, ctransid
 * or (for a differential stream) parent that differs from `expect`.
 *
 * @param buf At least the header and first command ({@linkcode sendStreamHeadNeeds}).
 * @param expect What the backup's key says.
 * @returns A reason for one line of an error message, or null.
 */
export function sendStreamHeadMismatch(
  buf: Uint8Array,
  expect: ExpectedSendStream,
): string | null {
  const head = _parseHead(buf);
  if (head === null) {
    return "it is not a btrfs send stream (no btrfs-stream header with a subvolume or snapshot command)";
  }
  if (!head.crcOk) return "its first command fails its CRC32C check";
  // btrfs receive joins the name to the destination: it must stay one entry in it.
  if (
    head.name === "" || head.name === "." || head.name === ".." ||
    head.name.includes("/") || head.name.includes("\0")
  ) {
    return `it names its subvolume ${
      JSON.stringify(head.name)
    }, which is not a plain directory name`;
  }
  const kind = head.parentUuid === null ? "full" : "differential";
  if (head.uuid !== expect.uuid) {
    return `it is a send of snapshot ${head.uuid}, not of ${expect.uuid}`;
  }
  if (head.ctransid !== expect.ctransid) {
    return `its snapshot has ctransid ${head.ctransid}, not ${expect.ctransid}`;
  }
  if (expect.parentUuid === null && head.parentUuid !== null) {
    return `it is a ${kind} stream against ${head.parentUuid}, not a full one`;
  }
  if (expect.parentUuid !== null && head.parentUuid !== expect.parentUuid) {
    return head.parentUuid === null
      ? `it is a full stream, not a differential one against ${expect.parentUuid}`
      : `it is a differential stream against ${head.parentUuid}, not against ${expect.parentUuid}`;
  }
  if (
    expect.parentUuid !== null && expect.parentCtransid !== undefined &&
    head.parentCtransid !== expect.parentCtransid
  ) {
    return `its parent has ctransid ${head.parentCtransid}, not ${expect.parentCtransid}`;
  }
  return null;
}

/** Options of {@linkcode readSendStreamHead}. */
export interface ReadHeadOptions {
  /** What the stream must be (from its backup's key); without it only the format is checked. */
  expect?: ExpectedSendStream;
  /** Names the stream in error messages (e.g. its backup key). */
  label?: string;
}

/**
 * Reads a send stream's header and first command before anything else may
 * see the stream, and checks them ({@linkcode sendStreamHeadMismatch}).
 *
 * @param stream A stream that should be a btrfs send stream.
 * @param options What it must be, and its name for messages.
 * @returns The head, and the whole stream again (the bytes read first, then the rest).
 * @throws {BtrfsError} "stream-mismatch" (the stream is cancelled) when it is not a send
 *   stream or not the expected one; "command-failed" when it fails before its first command.
 */
export async function readSendStreamHead(
  stream: ReadableStream<Uint8Array>,
  options: ReadHeadOptions = {},
): Promise<{ head: SendStreamHead; stream: ReadableStream<Uint8Array> }> {
  const reader = _reader(stream);
  let first: Uint8Array = new Uint8Array(0);
  while (sendStreamHeadNeeds(first) !== -1) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new BtrfsError(
        "command-failed",
        `${options.label ?? "the stream"} failed before its first command: ${
          e instanceof Error ? e.message : e
        }`,
        { cause: e },
      );
    }
    if (chunk.done) break;
    first = _concat(first, chunk.value);
  }
  const what = options.label ?? "the data given to btrfs receive";
  const head = parseSendStreamHead(first);
  const why = head === null
    ? "it is not a btrfs send stream (no btrfs-stream header with a subvolume or snapshot command)"
    : sendStreamHeadMismatch(first, options.expect ?? head);
  if (head === null || why !== null) {
    await reader.cancel("refused").catch(() => {});
    throw new BtrfsError(
      "stream-mismatch",
      head === null
        ? `${what} is not a btrfs send stream (no btrfs-stream header with a subvolume or snapshot command)`
        : `refused ${what}: ${why}`,
    );
  }
  return { head, stream: reader.rest(first) };
}

/** Bytes read for the head from a byte stream. */
const _HEAD_READ = 64 * 1024;
/** Chunks of the rest for readers that bring no buffer. */
const _CHUNK = 256 * 1024;

/** Reads the head of a stream, then gives the rest as a stream again. */
interface _HeadReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
  /** The stream again: `first`, then what was not read. */
  rest(first: Uint8Array): ReadableStream<Uint8Array>;
}

/**
 * A byte stream stays one: its rest forwards a reader's own buffer (BYOB)
 * to it, so bytes go straight into the reader's buffer; any other stream is
 * read chunk by chunk.
 */
function _reader(stream: ReadableStream<Uint8Array>): _HeadReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    const reader = stream.getReader();
    return {
      read: () => reader.read(),
      cancel: (reason) => reader.cancel(reason),
      rest(first) {
        let pending: Uint8Array | null = first;
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (pending !== null) {
              controller.enqueue(pending);
              pending = null;
              return;
            }
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        });
      },
    };
  }
  return {
    read: () => byob.read(new Uint8Array(_HEAD_READ)),
    cancel: (reason) => byob.cancel(reason),
    rest(first) {
      let pending: Uint8Array | null = first.length ? first : null;
      return new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: _CHUNK,
        async pull(controller) {
          const request = controller.byobRequest!;
          const view = new Uint8Array(
            request.view!.buffer,
            request.view!.byteOffset,
            request.view!.byteLength,
          );
          if (pending !== null) {
            const n = Math.min(pending.length, view.length);
            view.set(pending.subarray(0, n));
            pending = n < pending.length ? pending.subarray(n) : null;
            request.respond(n);
            return;
          }
          const r = await byob.read(view);
          if (r.done) {
            controller.close();
            // The reader's buffer goes back to it, empty.
            if (r.value) request.respondWithNewView(r.value);
          } else request.respondWithNewView(r.value);
        },
        cancel: (reason) => byob.cancel(reason),
      });
    },
  };
}

function _concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function _parseHead(buf: Uint8Array): _Head | null {
  if (buf.length < _HEADER + _CMD_HEADER) return null;
  if (new TextDecoder().decode(buf.subarray(0, 13)) !== _MAGIC) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint32(13, true);
  const len = dv.getUint32(_HEADER, true);
  const cmd = dv.getUint16(_HEADER + 4, true);
  if (cmd !== _CMD_SUBVOL && cmd !== _CMD_SNAPSHOT) return null;
  const end = _HEADER + _CMD_HEADER + len;
  if (buf.length < end) return null;
  let name: string | undefined;
  let uuid: string | undefined;
  let ctransid: number | undefined;
  let parentUuid: string | null = null;
  let parentCtransid: number | null = null;
  for (let off = _HEADER + _CMD_HEADER; off + 4 <= end;) {
    const type = dv.getUint16(off, true);
    const tlen = dv.getUint16(off + 2, true);
    const value = buf.subarray(off + 4, off + 4 + tlen);
    if (off + 4 + tlen > end) return null;
    if (type === _A_PATH) name = new TextDecoder().decode(value);
    else if (type === _A_UUID && tlen === 16) uuid = formatUuid(value);
    else if (type === _A_CLONE_UUID && tlen === 16) {
      parentUuid = formatUuid(value);
    } else if (type === _A_CTRANSID && tlen === 8) {
      ctransid = Number(dv.getBigUint64(off + 4, true));
    } else if (type === _A_CLONE_CTRANSID && tlen === 8) {
      parentCtransid = Number(dv.getBigUint64(off + 4, true));
    }
    off += 4 + tlen;
  }
  if (name === undefined || uuid === undefined || ctransid === undefined) {
    return null;
  }
  const command = buf.slice(_HEADER, end);
  new DataView(command.buffer).setUint32(6, 0, true);
  const crcOk = crc32c(command) === dv.getUint32(_HEADER + 6, true);
  return {
    version,
    name,
    uuid,
    ctransid,
    parentUuid,
    parentCtransid,
    crcOk,
  };
}

let _table: Uint32Array | undefined;

/**
 * CRC32C (Castagnoli) as btrfs computes it for send stream commands: the
 * register starts at `seed` and is not inverted before or after.
 *
 * @param data Bytes to checksum.
 * @param seed Initial register (btrfs send uses 0).
 * @returns The CRC as an unsigned 32-bit number.
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  if (_table === undefined) {
    _table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      _table[n] = c >>> 0;
    }
  }
  let crc = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = _table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return crc >>> 0;
}
