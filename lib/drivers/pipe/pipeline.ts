/**
 * Running pipe stages as a process pipeline with pipefail semantics: the
 * output ends cleanly only when every stage exited 0 and the input ended
 * cleanly, so a failed compressor or encryptor can never pass for a complete
 * backup. Streams flow with backpressure; nothing is buffered whole.
 *
 * @module
 */

import { joinShellWords } from "../../core/shell_words.ts";
import { forgetGroup, signalGroup, spawnGroupLeader } from "./process_group.ts";

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
  /** Stops the pipeline: every stage is killed, the input cancelled, and the output errors with the signal's reason. */
  signal?: AbortSignal;
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

/** One running stage: its process group, exit status and stderr tail. */
class _Stage {
  exited = false;
  stoppedByUs = false;
  readonly tail = new _Tail();
  readonly stderrDone: Promise<void>;

  constructor(
    readonly index: number,
    readonly argv: readonly string[],
    readonly child: Deno.ChildProcess,
  ) {
    this.stderrDone = _drain(child.stderr, this.tail);
  }

  /** Signals the stage and everything it started, unless it is gone. */
  signal(signal: "SIGTERM" | "SIGKILL"): void {
    if (!this.exited) signalGroup(this.child, signal);
  }
}

/** Spawns every stage, or stops those started and returns the error. */
function _spawnStages(
  stages: readonly (readonly string[])[],
  env: Record<string, string> | undefined,
): _Stage[] | { error: Error; cleanup: Promise<unknown> } {
  const started: _Stage[] = [];
  for (const [i, argv] of stages.entries()) {
    try {
      started.push(new _Stage(i, argv, spawnGroupLeader(argv, env)));
    } catch (e) {
      const cleanup = Promise.allSettled(started.map(async (stage) => {
        stage.signal("SIGKILL");
        await Promise.allSettled([
          stage.child.stdin.abort(),
          stage.child.stdout.cancel(),
          stage.stderrDone,
          stage.child.status,
        ]);
        forgetGroup(stage.child);
      }));
      return { error: _spawnError(argv, i, stages.length, e), cleanup };
    }
  }
  return started;
}

/** The stages of one pipeline, wired together, and how it ended. */
class _Pipeline {
  readonly #stages: _Stage[];
  readonly #failures: StageFailure[] = [];
  readonly #statuses: Promise<void>[];
  readonly #abortInput = new AbortController();
  #inputError: { error: unknown } | null = null;
  #aborted: { reason: unknown } | null = null;
  #stopping = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #pipes: Promise<void>[] = [];
  #settled: Promise<void> | null = null;

  constructor(stages: _Stage[]) {
    this.#stages = stages;
    this.#statuses = stages.map((s) => this.#watch(s));
  }

  /** Waits for a stage's exit; the first failure stops the rest. */
  async #watch(stage: _Stage): Promise<void> {
    const status = await stage.child.status;
    stage.exited = true;
    // A stopped stage's children may outlive it: take the group down too.
    if (this.#stopping || !status.success) {
      signalGroup(stage.child, "SIGKILL");
    }
    forgetGroup(stage.child);
    if (!status.success && !stage.stoppedByUs) {
      this.#failures.push({
        index: stage.index,
        argv: [...stage.argv],
        code: status.signal === null ? status.code : null,
        signal: status.signal,
        stderr: "",
      });
      // The first failure decides: stop the rest so the upload ends now.
      this.stop();
    }
  }

  /** SIGTERM to every stage still running, SIGKILL after a grace period. */
  stop(): void {
    this.#stopping = true;
    if (this.#stages.every((s) => s.exited)) return;
    for (const stage of this.#stages) {
      if (stage.exited) continue;
      stage.stoppedByUs = true;
      stage.signal("SIGTERM");
    }
    this.#killTimer ??= setTimeout(() => {
      for (const stage of this.#stages) stage.signal("SIGKILL");
    }, _KILL_GRACE_MS);
  }

  /** Stops everything because the caller's signal fired; the output errors with `reason`. */
  abort(reason: unknown): void {
    this.#aborted ??= { reason };
    this.stop();
    this.#abortInput.abort(reason);
  }

  /** Feeds `input` to the first stage and each stage's stdout to the next. */
  connect(input: ReadableStream<Uint8Array>): void {
    const first = this.#stages[0].child;
    this.#pipes = [
      this.#source(input).pipeTo(first.stdin, {
        signal: this.#abortInput.signal,
      }),
      ...this.#stages.slice(1).map((stage, i) =>
        this.#stages[i].child.stdout.pipeTo(stage.child.stdin)
      ),
    ].map((p) => p.catch(() => {/* the stages' exit statuses tell */}));
  }

  /** `input`, with its own errors told apart from a stage closing its stdin. */
  #source(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = input.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (e) {
          this.#inputError ??= { error: e };
          this.stop();
          controller.error(e);
          return;
        }
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /** Resolves once every stage exited. */
  exited(): Promise<unknown> {
    return Promise.all(this.#statuses);
  }

  /** Resolves once every stage exited and every pipe between them closed. */
  settle(): Promise<void> {
    this.#settled ??= (async () => {
      await Promise.all(this.#statuses);
      clearTimeout(this.#killTimer);
      // Every stage is gone: stop reading the input (it may be stalled).
      this.#abortInput.abort();
      await Promise.all([
        ...this.#stages.map((s) => s.stderrDone),
        ...this.#pipes,
      ]);
    })();
    return this.#settled;
  }

  /** Why the output must not end cleanly, or null when it may. */
  error(): unknown {
    if (this.#aborted) return this.#aborted.reason;
    for (const f of this.#failures) {
      f.stderr = this.#stages[f.index].tail.text();
    }
    const count = this.#stages.length;
    const lines = this.#failures.map((f) => _describeFailure(f, count));
    if (this.#inputError !== null) {
      const e = this.#inputError.error;
      lines.unshift(
        `the input of the pipe failed: ${e instanceof Error ? e.message : e}`,
      );
    }
    if (lines.length === 0) return null;
    return new PipelineError(
      lines.join("\n"),
      this.#failures,
      this.#inputError?.error,
    );
  }

  /** The last stage's stdout, closing only after a clean end of everything. */
  output(): ReadableStream<Uint8Array> {
    const reader = this.#stages[this.#stages.length - 1].child.stdout
      .getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch {
          // The exit statuses explain a broken output; make sure they come.
          this.stop();
          result = { done: true, value: undefined };
        }
        if (!result.done) {
          controller.enqueue(result.value);
          return;
        }
        await this.settle();
        const error = this.error();
        if (error !== null) controller.error(error);
        else controller.close();
      },
      cancel: async (reason) => {
        this.stop();
        this.#abortInput.abort(reason);
        await reader.cancel(reason).catch(() => {});
        await this.settle();
      },
    }, { highWaterMark: 0 });
  }
}

/**
 * Pipes a stream through commands, like `input | stage1 | stage2 | ...` under
 * `set -o pipefail`.
 *
 * The output closes only after every stage exited 0 and the input ended. If
 * a stage exits non-zero or is killed, every other stage is stopped and the
 * output errors with a {@linkcode PipelineError} naming the stage's argv,
 * exit code and stderr tail; the same if the input stream errors. Cancelling
 * the output, or aborting `options.signal`, kills every stage and cancels the
 * input. Each stage runs in a process group of its own, and stopping a stage
 * signals the whole group, so nothing it started (`sh -c "a | b"`) is left
 * running. A program that cannot be found errors the output with the package
 * to install. With no stages, the input is returned as it is.
 *
 * @param input The data to pipe, e.g. a `btrfs send` stream.
 * @param stages One argv per stage, in order.
 * @param options Extra environment for the stages; an abort signal.
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
  const { signal } = options;
  if (signal?.aborted) {
    return _erroredAfter(input.cancel(signal.reason), signal.reason);
  }
  const spawned = _spawnStages(stages, options.env);
  if (!Array.isArray(spawned)) {
    // Release everything before reporting.
    const cleanup = Promise.allSettled([
      input.cancel(spawned.error),
      spawned.cleanup,
    ]);
    return _erroredAfter(cleanup, spawned.error);
  }
  const pipeline = new _Pipeline(spawned);
  pipeline.connect(input);
  if (signal) {
    const onAbort = () => pipeline.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    pipeline.exited().then(() => signal.removeEventListener("abort", onAbort));
  }
  return pipeline.output();
}
