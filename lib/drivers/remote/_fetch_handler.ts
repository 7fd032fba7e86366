/**
 * An HTTP handler for the AWS SDK on Deno's native `fetch`. Deno's `node:http`
 * layer costs CPU that a 2-core machine needs for hashing and the store:
 * `fetch` moves bodies in Rust. It adds the timeouts the SDK's Node handler
 * had: connect-and-answer (scaled to the request body's size) and inactivity
 * of the response body.
 *
 * @module
 */

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

/** Options of {@linkcode FetchHttpHandler}. */
export interface FetchHandlerOptions {
  /** Custom client (CA certificates); the default client otherwise. */
  client?: Deno.HttpClient;
  /** Most ms without progress: before the answer (plus 1 s per MiB of request body) and between body chunks. */
  timeoutMs: number;
}

/**
 * A network fault raised by this handler: `NetworkError` and `TimeoutError`
 * are retried, `TlsError` (an untrusted certificate) is not.
 */
export class NetworkError extends Error {
  /** `TimeoutError`, `NetworkError` or `TlsError`. */
  readonly code: string;
  /** A network fault; `code` tells timeouts apart. */
  constructor(message: string, code = "NetworkError", options?: ErrorOptions) {
    super(message, options);
    this.name = code === "NetworkError" ? "NetworkError" : code;
    this.code = code;
  }
}

const _MiB = 1024 * 1024;

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
    { abortSignal }: { abortSignal?: AbortSignal } = {},
  ): Promise<{ response: unknown }> {
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
    const ac = new AbortController();
    const onAbort = () => ac.abort(abortSignal?.reason);
    abortSignal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const answerMs = this.#o.timeoutMs + Math.ceil(bodyBytes / _MiB) * 1000;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, answerMs);
    let res: Response;
    try {
      res = await fetch(url, {
        method: request.method,
        headers,
        body: request.method === "GET" || request.method === "HEAD"
          ? undefined
          : body ?? undefined,
        signal: ac.signal,
        redirect: "manual",
        client: this.#o.client,
      } as RequestInit);
    } catch (e) {
      clearTimeout(timer);
      abortSignal?.removeEventListener("abort", onAbort);
      if (abortSignal?.aborted) throw e;
      if (timedOut) {
        throw new NetworkError(
          `no answer from ${request.hostname} within ${answerMs} ms`,
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
        `request to ${request.hostname} failed: ${why}`,
        /certificate|tls|handshake/i.test(why) ? "TlsError" : "NetworkError",
        { cause: e },
      );
    }
    clearTimeout(timer);
    const responseHeaders: Record<string, string> = {};
    res.headers.forEach((v, k) => (responseHeaders[k] = v));
    const timeoutMs = this.#o.timeoutMs;
    const src = res.body;
    let responseBody: ReadableStream<Uint8Array>;
    if (!src) {
      abortSignal?.removeEventListener("abort", onAbort);
      responseBody = new ReadableStream({ start: (c) => c.close() });
    } else {
      const reader = src.getReader();
      // One watchdog per body (not a timer per chunk): it aborts the fetch
      // when no chunk arrived for timeoutMs.
      let last = performance.now();
      const watchdog = setInterval(() => {
        if (performance.now() - last > timeoutMs) {
          timedOut = true;
          ac.abort();
        }
      }, Math.max(50, Math.min(1000, timeoutMs / 4)));
      const done = () => {
        clearInterval(watchdog);
        abortSignal?.removeEventListener("abort", onAbort);
      };
      responseBody = new ReadableStream<Uint8Array>({
        async pull(controller) {
          last = performance.now();
          try {
            const r = await reader.read();
            last = performance.now();
            if (r.done) {
              done();
              controller.close();
            } else controller.enqueue(r.value);
          } catch (e) {
            done();
            controller.error(
              abortSignal?.aborted ? e : new NetworkError(
                timedOut
                  ? `no data from ${request.hostname} for ${timeoutMs} ms`
                  : `reading the answer from ${request.hostname} failed: ${
                    (e as Error)?.message ?? e
                  }`,
                timedOut ? "TimeoutError" : "NetworkError",
                { cause: e },
              ),
            );
          }
        },
        cancel(reason) {
          done();
          return reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
    }
    return {
      response: {
        statusCode: res.status,
        reason: res.statusText,
        headers: responseHeaders,
        body: responseBody,
      },
    };
  }

  /** Part of the SDK's handler interface; nothing to update. */
  updateHttpClientConfig(): void {}

  /** Part of the SDK's handler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  /** Closes the custom client, if any. */
  destroy(): void {
    this.#o.client?.close();
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
