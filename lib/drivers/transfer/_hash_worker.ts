/**
 * Worker that hashes transfer buffers off the main thread: the SHA-256 of a
 * whole stream (buffers arrive in order) and/or one buffer's own checksum.
 * Shared buffers are read in place; others are transferred in and back,
 * never copied.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

interface _PartMsg {
  op: "part";
  id: number;
  buf: ArrayBuffer | SharedArrayBuffer;
  offset: number;
  length: number;
  /** Add the bytes to the stream hash. */
  stream: boolean;
  /** The buffer's own checksum, if any. */
  alg: "md5" | "sha256" | null;
}
interface _FinishMsg {
  op: "finish";
  id: number;
}
interface _PingMsg {
  op: "ping";
  id: number;
}

let _stream: Hash = createHash("sha256");

// deno-lint-ignore no-explicit-any
const _self = self as any;
_self.onmessage = (ev: MessageEvent<_PartMsg | _FinishMsg | _PingMsg>) => {
  const m = ev.data;
  if (m.op === "ping") {
    _self.postMessage({ id: m.id });
    return;
  }
  if (m.op === "finish") {
    const hex = _stream.digest("hex");
    _stream = createHash("sha256");
    _self.postMessage({ id: m.id, hex });
    return;
  }
  const view = new Uint8Array(m.buf, m.offset, m.length);
  if (m.stream) _stream.update(view);
  const digest = m.alg
    ? new Uint8Array(createHash(m.alg).update(view).digest())
    : undefined;
  if (m.buf instanceof ArrayBuffer) {
    _self.postMessage({ id: m.id, buf: m.buf, digest }, [m.buf]);
  } else {
    _self.postMessage({ id: m.id, digest });
  }
};
