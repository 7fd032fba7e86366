/**
 * An SDK request handler that keeps to a bandwidth limit: request bodies go
 * out as a Node stream of small chunks, each sent when the upload pacer
 * allows (the Node handler pipes a stream body and keeps the Content-Length
 * the request was signed with; `fetch` would switch to chunked encoding,
 * which S3 refuses), and response bodies are read a chunk at a time as the
 * download pacer allows, so TCP backpressure slows the sender.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import type { SdkHandler } from "./_fetch_handler.ts";
import type { Pacer, Pacers } from "./pacer.ts";

const _CHUNK = 64 * 1024;

/**
 * `inner` under the limits of `pacers`. `streamBodies`: the handler that
 * sends bodies takes a Node stream (the Node handler); otherwise a body is
 * paced as a whole before it is sent.
 */
export function pacedHandler(
  inner: SdkHandler,
  pacers: Pacers,
  streamBodies: boolean,
): SdkHandler {
  return {
    metadata: inner.metadata,
    async handle(request, options = {}) {
      const signal = options.abortSignal instanceof AbortSignal
        ? options.abortSignal
        : undefined;
      const up = pacers.upload;
      let sent = request;
      if (up && request.body instanceof Uint8Array && request.body.length) {
        if (streamBodies) {
          sent = { ...request, body: _pacedBody(request.body, up, signal) };
        } else {
          await up.take(request.body.length, signal);
        }
      }
      const { response } = await inner.handle(sent, options);
      const down = pacers.download;
      if (down && response.body) {
        response.body = _pacedResponse(response.body, down, signal);
      }
      return { response };
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
    destroy: () => inner.destroy?.(),
  };
}

/** The bytes as a Node stream that releases a chunk when the pacer allows. */
function _pacedBody(
  data: Uint8Array,
  pacer: Pacer,
  signal: AbortSignal | undefined,
): Readable {
  const chunk = Math.max(1, Math.min(_CHUNK, Math.floor(pacer.burst)));
  let offset = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const piece = data.subarray(offset, offset + chunk);
      offset += piece.length;
      pacer.take(piece.length, signal).then(
        () =>
          this.push(Buffer.from(piece.buffer, piece.byteOffset, piece.length)),
        (e) => this.destroy(e),
      );
    },
  });
}

/** A response body (web stream or Node stream) read only as fast as the pacer allows. */
function _pacedResponse(
  body: unknown,
  pacer: Pacer,
  signal: AbortSignal | undefined,
): unknown {
  if (body instanceof ReadableStream) {
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = (body as ReadableStream<Uint8Array>).getReader({ mode: "byob" });
    } catch {
      // not a byte stream
    }
    // A byte stream stays one: reads still go straight into the reader's buffer.
    if (byob) return _pacedBytes(byob, pacer, signal);
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const r = await reader.read();
        if (r.done) {
          controller.close();
          return;
        }
        await pacer.take(r.value.length, signal);
        controller.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }
  if (body instanceof Readable) {
    return Readable.from(
      (async function* () {
        for await (const c of body as AsyncIterable<Uint8Array>) {
          await pacer.take(c.length, signal);
          yield c;
        }
      })(),
      { objectMode: false },
    );
  }
  return body;
}

/** A byte stream read through `reader` as fast as the pacer allows. */
function _pacedBytes(
  reader: ReadableStreamBYOBReader,
  pacer: Pacer,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: _CHUNK,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      const r = await reader.read(
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
      );
      if (r.done) {
        controller.close();
        if (r.value) request.respondWithNewView(r.value);
        return;
      }
      await pacer.take(r.value.length, signal);
      request.respondWithNewView(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
