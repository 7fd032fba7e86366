/**
 * Worker that hashes upload parts off the main thread: the SHA-256 of the
 * whole stream (parts arrive in order) and each part's own checksum. Buffers
 * are transferred in and back, never copied.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

interface _PartMsg {
  op: "part";
  id: number;
  buf: ArrayBuffer;
  offset: number;
  length: number;
  alg: "md5" | "sha256" | null;
}
interface _FinishMsg {
  op: "finish";
  id: number;
}

let _stream: Hash = createHash("sha256");

// deno-lint-ignore no-explicit-any
const _self = self as any;
_self.onmessage = (ev: MessageEvent<_PartMsg | _FinishMsg>) => {
  const m = ev.data;
  if (m.op === "finish") {
    const hex = _stream.digest("hex");
    _stream = createHash("sha256");
    _self.postMessage({ id: m.id, hex });
    return;
  }
  const view = new Uint8Array(m.buf, m.offset, m.length);
  _stream.update(view);
  const digest = m.alg
    ? new Uint8Array(createHash(m.alg).update(view).digest())
    : undefined;
  _self.postMessage({ id: m.id, buf: m.buf, digest }, [m.buf]);
};
