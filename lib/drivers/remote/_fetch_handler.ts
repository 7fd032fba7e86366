/**
 * An HTTP handler for the AWS SDK on Deno's native `fetch`. Deno's `node:http`
 * layer costs CPU that a 2-core machine needs for hashing and the store:
 * `fetch` moves bodies in Rust. It adds the timeouts the SDK's Node handler
 * had: connect-and-answer (scaled to the request body's size) and inactivity
 * of the response body.
 *
 * @module
 */

import { MiB } from "../../core/format.ts";
import { NetworkError } from "./errors.ts";

/** The SDK's HTTP request, as far as this handler reads it. */
export interface SdkRequest {
  /** HTTP method. */
  method: string;
  /** `http:` or `https:`. */
  protocol: string;
  /** Host name. */
  hostname: string;
  /** Port, when not the protocol's default. */
  port?: number;
  /** Path, already escaped. */
  path: string;
  /** Query parameters, unescaped. */
  query?: Record<string, string | string[] | null>;
  /** Signed headers. */
  headers: Record<string, string>;
  /** Body: bytes, a string, or nothing. */
  body?: unknown;
}

/** The SDK's HTTP response, as this handler makes it. */
export interface SdkResponse {
  /** HTTP status. */
  statusCode: number;
  /** Status text. */
  reason?: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** The body, streaming. */
  body?: unknown;
}

/** An SDK request handler: what the client's `requestHandler` accepts. */
export interface SdkHandler {
  /** The protocol the handler speaks. */
  metadata?: { handlerProtocol: string };
  /** Sends one request. */
  handle(
    request: SdkRequest,
    options?: { abortSignal?: unknown },
  ): Promise<{ response: SdkResponse }>;
  /** Part of the SDK's interface. */
  updateHttpClientConfig(key: never, value: never): void;
  /** Part of the SDK's interface. */
  httpHandlerConfigs(): object;
  /** Releases connections. */
  destroy?(): void;
}

/** Options of {@linkcode FetchHttpHandler}. */
export interface FetchHandlerOptions {
  /** Custom client (CA certificates); the default client otherwise. */
  client?: Deno.HttpClient;
  /** Most ms without progress: before the answer (plus 1 s per MiB of request body) and between body chunks. */
  timeoutMs: number;
}

/** Sends the SDK's requests with `fetch`. */
export class FetchHttpHandler {
  /** What the SDK asks of a handler. */
  readonly metadata = { handlerProtocol: "http/1.1" };
  readonly #o: FetchHandlerOptions;

  /** A handler with the given timeouts and client. */
  constructor(options: FetchHandlerOptions) {
    this.#o = options;
  }

  /** Sends one request; the response body streams. */
  async handle(
    request: SdkRequest,
    options: { abortSignal?: unknown } = {},
  ): Promise<{ response: SdkResponse }> {
    // The SDK's type says a signal of its own shape; ours are web signals.
    const signal = options.abortSignal instanceof AbortSignal
      ? options.abortSignal
      : undefined;
    const { url, init, bodyBytes } = _fetchArgs(request);
    const x = new _Exchange(request.hostname, signal);
    const answerMs = this.#o.timeoutMs + Math.ceil(bodyBytes / MiB) * 1000;
    const res = await x.answer(
      url,
      { ...init, client: this.#o.client },
      answerMs,
    );
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    return {
      response: {
        statusCode: res.status,
        reason: res.statusText,
        headers,
        body: x.body(res.body, this.#o.timeoutMs),
      },
    };
  }

  /** Part of the SDK's handler interface; nothing to update. */
  updateHttpClientConfig(_key: never, _value: never): void {}

  /** Part of the SDK's handler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  /** Closes the custom client, if any. */
  destroy(): void {
    this.#o.client?.close();
  }
}

/** What `fetch` is given for an SDK request, and the size of its body. */
function _fetchArgs(
  request: SdkRequest,
): { url: string; init: RequestInit; bodyBytes: number } {
  const url = `${request.protocol}//${request.hostname}${
    request.port ? `:${request.port}` : ""
  }${request.path}${_query(request.query)}`;
  const headers = new Headers();
  for (const [k, v] of Object.entries(request.headers)) {
    const l = k.toLowerCase();
    // fetch sets these itself from the URL and the body.
    if (l === "host" || l === "content-length" || l === "expect") continue;
    headers.set(k, v);
  }
  let body = request.body as BodyInit | undefined | null;
  // fetch refuses views of shared memory (upload parts live there).
  if (body instanceof Uint8Array && !(body.buffer instanceof ArrayBuffer)) {
    body = body.slice();
  }
  const bodyBytes = body instanceof Uint8Array
    ? body.length
    : typeof body === "string"
    ? body.length
    : 0;
  const bodyless = request.method === "GET" || request.method === "HEAD";
  return {
    url,
    init: {
      method: request.method,
      headers,
      body: bodyless ? undefined : body ?? undefined,
      redirect: "manual",
    },
    bodyBytes,
  };
}

/**
 * One request and its answer: aborted by the caller's signal or by our
 * timeouts (which it tells apart), with faults translated to
 * {@linkcode NetworkError}.
 */
class _Exchange {
  readonly #ac = new AbortController();
  readonly #onAbort = () => this.#ac.abort(this.signal?.reason);
  #timedOut = false;

  constructor(readonly host: string, readonly signal?: AbortSignal) {
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  #timeout(): void {
    this.#timedOut = true;
    this.#ac.abort();
  }

  #release(): void {
    this.signal?.removeEventListener("abort", this.#onAbort);
  }

  /** The response head, or a NetworkError when none came within `answerMs`. */
  async answer(
    url: string,
    init: RequestInit & { client?: Deno.HttpClient },
    answerMs: number,
  ): Promise<Response> {
    const timer = setTimeout(() => this.#timeout(), answerMs);
    try {
      return await fetch(url, { ...init, signal: this.#ac.signal });
    } catch (e) {
      this.#release();
      if (this.signal?.aborted) throw e;
      if (this.#timedOut) {
        throw new NetworkError(
          `no answer from ${this.host} within ${answerMs} ms`,
          "TimeoutError",
          { cause: e },
        );
      }
      // fetch says "fetch failed"; the reason is in the cause.
      const why = String(
        (e as { cause?: { message?: string } })?.cause?.message ??
          (e as Error)?.message ?? e,
      );
      throw new NetworkError(
        `request to ${this.host} failed: ${why}`,
        /certificate|tls|handshake/i.test(why) ? "TlsError" : "NetworkError",
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The response body, aborted when no chunk arrived for `timeoutMs`. A
   * byte stream: a reader with its own buffer (BYOB) gets the bytes read
   * straight into it, with no chunk allocated on the way.
   */
  body(
    src: ReadableStream<Uint8Array> | null,
    timeoutMs: number,
  ): ReadableStream<Uint8Array> {
    if (!src) {
      this.#release();
      return new ReadableStream({ start: (c) => c.close() });
    }
    const reader = _byobReader(src);
    // One watchdog per body (not a timer per chunk).
    let last = performance.now();
    const watchdog = setInterval(() => {
      if (performance.now() - last > timeoutMs) this.#timeout();
    }, Math.max(50, Math.min(1000, timeoutMs / 4)));
    const done = () => {
      clearInterval(watchdog);
      this.#release();
    };
    return new ReadableStream({
      type: "bytes",
      // Readers without a buffer get chunks of this size, read into it.
      autoAllocateChunkSize: _CHUNK,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view!;
        last = performance.now();
        try {
          const r = await reader.read(
            new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
          );
          last = performance.now();
          if (r.done) {
            done();
            controller.close();
            // The stream's own buffer goes back, empty.
            if (r.value) request.respondWithNewView(r.value);
          } else request.respondWithNewView(r.value);
        } catch (e) {
          done();
          controller.error(this.#readError(e, timeoutMs));
        }
      },
      cancel: (reason) => {
        done();
        return reader.cancel(reason);
      },
    });
  }

  #readError(e: unknown, timeoutMs: number): unknown {
    if (this.signal?.aborted) return e;
    return new NetworkError(
      this.#timedOut
        ? `no data from ${this.host} for ${timeoutMs} ms`
        : `reading the answer from ${this.host} failed: ${
          (e as Error)?.message ?? e
        }`,
      this.#timedOut ? "TimeoutError" : "NetworkError",
      { cause: e },
    );
  }
}

/** Bytes per chunk for readers that bring no buffer. */
const _CHUNK = 256 * 1024;

/** A BYOB reader of a byte stream, or one made over a stream of chunks. */
function _byobReader(
  src: ReadableStream<Uint8Array>,
): ReadableStreamBYOBReader {
  try {
    return src.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: copy its chunks into the buffers given.
    let left: Uint8Array | null = null;
    const chunks = src.getReader();
    return new ReadableStream({
      type: "bytes",
      async pull(controller) {
        const request = controller.byobRequest!;
        const view = new Uint8Array(
          request.view!.buffer,
          request.view!.byteOffset,
          request.view!.byteLength,
        );
        if (!left) {
          const r = await chunks.read();
          if (r.done) {
            controller.close();
            request.respond(0);
            return;
          }
          left = r.value;
        }
        const n = Math.min(left.length, view.length);
        view.set(left.subarray(0, n));
        left = n < left.length ? left.subarray(n) : null;
        request.respond(n);
      },
      cancel: (reason) => chunks.cancel(reason),
    }).getReader({ mode: "byob" });
  }
}

function _escape(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function _query(q: SdkRequest["query"]): string {
  if (!q) return "";
  const parts: string[] = [];
  for (const key of Object.keys(q).sort()) {
    const v = q[key];
    const k = _escape(key);
    if (Array.isArray(v)) {
      for (const x of v) parts.push(`${k}=${_escape(x)}`);
    } else if (v === null || v === undefined) {
      parts.push(k);
    } else {
      parts.push(`${k}=${_escape(v)}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}
