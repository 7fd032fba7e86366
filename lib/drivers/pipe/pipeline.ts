/**
 * Running pipe stages as a process pipeline with pipefail semantics: the
 * output ends cleanly only when every stage exited 0 and the input ended
 * cleanly, so a failed compressor or encryptor can never pass for a complete
 * backup. Streams flow with backpressure; nothing is buffered whole.
 *
 * @module
 */

import { joinShellWords } from "../../core/shell_words.ts";

/** How one stage of a pipeline failed. */
export interface StageFailure {
  /** 0-based position in the pipeline. */
  index: number;
  /** Its program and arguments. */
  argv: string[];
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** The signal that killed it (e.g. `SIGPIPE`), or null when it exited. */
  signal: string | null;
  /** The end of its stderr (at most a few KiB), trimmed. */
  stderr: string;
}

/** A pipeline that did not finish cleanly: a stage failed, or its input stream did. */
export class PipelineError extends Error {
  /** Stages that failed on their own (not stopped by the pipeline), first failure first. */
  readonly failures: StageFailure[];
  /** The input stream's error, when the input failed. */
  readonly inputError?: unknown;

  /**
   * Builds the error; `message` has one line per failure.
   *
   * @param message What went wrong.
   * @param failures The failed stages.
   * @param inputError The input stream's error, if any.
   */
  constructor(
    message: string,
    failures: StageFailure[],
    inputError?: unknown,
  ) {
    super(
      message,
      inputError === undefined ? undefined : { cause: inputError },
    );
    this.name = "PipelineError";
    this.failures = failures;
    this.inputError = inputError;
  }
}

/** Options for {@linkcode pipeThrough}. */
export interface PipeThroughOptions {
  /** Extra environment variables for every stage (added to the inherited environment). */
  env?: Record<string, string>;
}

const _STDERR_TAIL = 4096;
// Grace period between SIGTERM and SIGKILL for stages we stop.
const _KILL_GRACE_MS = 5000;

/** Debian/Ubuntu packages of programs people pipe backups through. */
const _PACKAGES: Record<string, string> = {
  zstd: "zstd",
  zstdmt: "zstd",
  pzstd: "zstd",
  gzip: "gzip",
  pigz: "pigz",
  xz: "xz-utils",
  bzip2: "bzip2",
  pbzip2: "pbzip2",
  lz4: "lz4",
  lzop: "lzop",
  age: "age",
  rage: "rage",
  gpg: "gnupg",
  gpg2: "gnupg",
  openssl: "openssl",
  mbuffer: "mbuffer",
  pv: "pv",
  btrfs: "btrfs-progs",
};

function _installHint(program: string): string {
  const name = program.split("/").pop() ?? program;
  const pkg = _PACKAGES[name];
  return pkg
    ? `install the ${pkg} package (e.g. apt-get install ${pkg})`
    : `install the package that provides it, or give its full path`;
}

function _spawnError(
  argv: readonly string[],
  index: number,
  count: number,
  e: unknown,
): Error {
  const where = `pipe stage ${index + 1}/${count} \`${joinShellWords(argv)}\``;
  if (e instanceof Deno.errors.NotFound) {
    return new Error(
      `${where}: program "${argv[0]}" not found; ${_installHint(argv[0])}`,
      { cause: e },
    );
  }
  return new Error(`${where}: cannot start: ${(e as Error).message}`, {
    cause: e,
  });
}

/** Keeps the last bytes of a stream. */
class _Tail {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    if (chunk.length >= _STDERR_TAIL) {
      this.#buf = chunk.slice(chunk.length - _STDERR_TAIL);
      return;
    }
    const keep = Math.min(this.#buf.length, _STDERR_TAIL - chunk.length);
    const next = new Uint8Array(keep + chunk.length);
    next.set(this.#buf.subarray(this.#buf.length - keep));
    next.set(chunk, keep);
    this.#buf = next;
  }

  text(): string {
    return new TextDecoder().decode(this.#buf).trim();
  }
}

async function _drain(stream: ReadableStream<Uint8Array>, tail: _Tail) {
  try {
    for await (const chunk of stream) tail.push(chunk);
  } catch {
    // A killed stage may end its stderr abruptly; the tail so far is what we have.
  }
}

function _describeFailure(f: StageFailure, count: number): string {
  const how = f.signal !== null
    ? `was killed by ${f.signal}`
    : `exited with code ${f.code}`;
  const stderr = f.stderr === "" ? "(no stderr)" : `stderr: ${f.stderr}`;
  return `pipe stage ${f.index + 1}/${count} \`${
    joinShellWords(f.argv)
  }\` ${how}; ${stderr}`;
}

/** A stream that errors with `error` once `before` has settled. */
function _erroredAfter(
  before: Promise<unknown>,
  error: Error,
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      await before;
      controller.error(error);
    },
  });
}

/**
 * Pipes a stream through commands, like `input | stage1 | stage2 | ...` under
 * `set -o pipefail`.
 *
 * The output closes only after every stage exited 0 and the input ended. If
 * a stage exits non-zero or is killed, every other stage is stopped and the
 * output errors with a {@linkcode PipelineError} naming the stage's argv,
 * exit code and stderr tail; the same if the input stream errors. Cancelling
 * the output kills every stage and cancels the input. A program that cannot
 * be found errors the output with the package to install. With no stages,
 * the input is returned as it is.
 *
 * @param input The data to pipe, e.g. a `btrfs send` stream.
 * @param stages One argv per stage, in order.
 * @param options Extra environment for the stages.
 * @returns The last stage's output.
 *
 * @example Compress and decompress
 * ```ts
 * import { pipeThrough } from "./pipeline.ts";
 *
 * const data = new TextEncoder().encode("hello ".repeat(1000));
 * const packed = pipeThrough(ReadableStream.from([data]), [["gzip", "-c"]]);
 * const unpacked = pipeThrough(packed, [["gzip", "-d", "-c"]]);
 * const text = await new Response(unpacked).text();
 * if (text !== "hello ".repeat(1000)) throw new Error("round trip failed");
 * ```
 */
export function pipeThrough(
  input: ReadableStream<Uint8Array>,
  stages: readonly (readonly string[])[],
  options: PipeThroughOptions = {},
): ReadableStream<Uint8Array> {
  if (stages.length === 0) return input;
  const count = stages.length;
  const children: Deno.ChildProcess[] = [];
  for (const [i, argv] of stages.entries()) {
    try {
      children.push(
        new Deno.Command(argv[0], {
          args: argv.slice(1),
          env: options.env,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
      );
    } catch (e) {
      const error = _spawnError(argv, i, count, e);
      // Stop what already started, and release everything before reporting.
      const cleanup = Promise.allSettled([
        input.cancel(error),
        ...children.map(async (child) => {
          try {
            child.kill("SIGKILL");
          } catch { /* already exited */ }
          await Promise.allSettled([
            child.stdin.abort(),
            child.stdout.cancel(),
            child.stderr.cancel(),
            child.status,
          ]);
        }),
      ]);
      return _erroredAfter(cleanup, error);
    }
  }

  const exited = children.map(() => false);
  const stoppedByUs = children.map(() => false);
  const failures: StageFailure[] = [];
  let inputError: { error: unknown } | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const stopAll = (): void => {
    if (exited.every(Boolean)) return;
    for (const [i, child] of children.entries()) {
      if (exited[i]) continue;
      stoppedByUs[i] = true;
      try {
        child.kill("SIGTERM");
      } catch { /* exited meanwhile */ }
    }
    killTimer ??= setTimeout(() => {
      for (const [i, child] of children.entries()) {
        if (exited[i]) continue;
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }
    }, _KILL_GRACE_MS);
  };

  const tails = children.map(() => new _Tail());
  const stderrDone = children.map((child, i) => _drain(child.stderr, tails[i]));
  const statuses = children.map((child, i) =>
    child.status.then((status) => {
      exited[i] = true;
      if (!status.success && !stoppedByUs[i]) {
        failures.push({
          index: i,
          argv: [...stages[i]],
          code: status.signal === null ? status.code : null,
          signal: status.signal,
          stderr: "",
        });
        // The first failure decides: stop the rest so the upload ends now.
        stopAll();
      }
    })
  );

  // Wrap the input so its own errors are told apart from a stage closing its stdin.
  const inputReader = input.getReader();
  const source = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await inputReader.read();
      } catch (e) {
        inputError ??= { error: e };
        stopAll();
        controller.error(e);
        return;
      }
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel(reason) {
      return inputReader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const abortInput = new AbortController();
  const pipes = [
    source.pipeTo(children[0].stdin, { signal: abortInput.signal }),
    ...children.slice(1).map((child, i) =>
      children[i].stdout.pipeTo(child.stdin)
    ),
  ].map((p) => p.catch(() => {/* the stages' exit statuses tell */}));

  let settled: Promise<void> | null = null;
  const settle = (): Promise<void> => {
    settled ??= (async () => {
      await Promise.all(statuses);
      clearTimeout(killTimer);
      // Every stage is gone: stop reading the input (it may be stalled).
      abortInput.abort();
      await Promise.all([...stderrDone, ...pipes]);
    })();
    return settled;
  };

  const buildError = (): PipelineError | null => {
    for (const f of failures) f.stderr = tails[f.index].text();
    const lines = failures.map((f) => _describeFailure(f, count));
    if (inputError !== null) {
      const reason = inputError.error instanceof Error
        ? inputError.error.message
        : String(inputError.error);
      lines.unshift(`the input of the pipe failed: ${reason}`);
    }
    if (lines.length === 0) return null;
    return new PipelineError(lines.join("\n"), failures, inputError?.error);
  };

  const outReader = children[count - 1].stdout.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await outReader.read();
      } catch {
        // The exit statuses explain a broken output; make sure they come.
        stopAll();
        result = { done: true, value: undefined };
      }
      if (!result.done) {
        controller.enqueue(result.value);
        return;
      }
      await settle();
      const error = buildError();
      if (error) controller.error(error);
      else controller.close();
    },
    async cancel(reason) {
      stopAll();
      abortInput.abort(reason);
      await outReader.cancel(reason).catch(() => {});
      await settle();
    },
  }, { highWaterMark: 0 });
}
