/**
 * Worker that hashes transfer buffers off the main thread: the SHA-256 of a
 * whole stream (buffers arrive in order) and/or one buffer's own checksum,
 * in one pass. Buffers are transferred in and back (shared memory is read
 * in place), never copied.
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

/** Bytes hashed by one hash before the other: both read them while cached. */
const _SLICE = 1 << 20;

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
  const own = m.alg ? createHash(m.alg) : null;
  for (let at = 0; at < m.length; at += _SLICE) {
    const view = new Uint8Array(
      m.buf,
      m.offset + at,
      Math.min(_SLICE, m.length - at),
    );
    if (m.stream) _stream.update(view);
    own?.update(view);
  }
  const digest = own ? new Uint8Array(own.digest()) : undefined;
  if (m.buf instanceof ArrayBuffer) {
    _self.postMessage({ id: m.id, buf: m.buf, digest }, [m.buf]);
  } else {
    _self.postMessage({ id: m.id, digest });
  }
};
