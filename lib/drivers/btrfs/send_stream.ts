/**
 * Reading the start of a btrfs send stream: the header and the first command
 * (SUBVOL for a full stream, SNAPSHOT for a differential), which name the
 * subvolume and carry the uuid that btrfs receive records as received uuid.
 *
 * @module
 */

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

const _MAGIC = "btrfs-stream\0";
const _HEADER = 17; // magic[13] + le32 version
const _CMD_HEADER = 10; // le32 len, le16 cmd, le32 crc
const _CMD_SUBVOL = 1;
const _CMD_SNAPSHOT = 2;
const _A_UUID = 1;
const _A_CTRANSID = 2;
const _A_PATH = 15;
const _A_CLONE_UUID = 20;

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
    }
    off += 4 + tlen;
  }
  if (name === undefined || uuid === undefined || ctransid === undefined) {
    return null;
  }
  return { version, name, uuid, ctransid, parentUuid };
}
