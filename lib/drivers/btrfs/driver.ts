/**
 * The btrfs source driver's public functions in one import: subvolume
 * metadata, snapshot discovery and lifecycle, send and receive.
 *
 * @module
 */

export { BtrfsError, type BtrfsErrorCode } from "./errors.ts";
export {
  assertSameFilesystem,
  assertSubvolume,
  getSubvolumeInfo,
  isSubvolume,
} from "./subvolume.ts";
export {
  createSnapshot,
  type DestroyOptions,
  destroySnapshot,
  listSnapshots,
  renameSnapshot,
  syncFilesystem,
} from "./snapshots.ts";
export {
  send,
  type SendCapabilities,
  sendCapabilities,
  type SendOptions,
} from "./send.ts";
export { checkReceiveDir, receive, type ReceiveOptions } from "./receive.ts";
export type { ExpectedSendStream } from "./send_stream.ts";
export { type Privilege, processPrivilege } from "./privilege.ts";
export type { SubvolumeInfo } from "../../core/types.ts";
