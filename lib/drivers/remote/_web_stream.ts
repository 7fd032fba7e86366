/**
 * The SDK's response body (a Node stream under Deno, or already a web
 * stream) as a web stream of Uint8Array.
 *
 * @module
 */

/** A web stream over an SDK body; no body gives an empty stream. */
export function toWebStream(body: unknown): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  const b = body as {
    [Symbol.asyncIterator]?: () => AsyncIterator<Uint8Array>;
    destroy?: (e?: Error) => void;
  };
  if (!b || typeof b[Symbol.asyncIterator] !== "function") {
    return new ReadableStream({ start: (c) => c.close() });
  }
  const it = b[Symbol.asyncIterator]!();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else {
        controller.enqueue(
          value instanceof Uint8Array ? value : new Uint8Array(value),
        );
      }
    },
    async cancel() {
      b.destroy?.();
      await it.return?.();
    },
  });
}
