/**
 * Output for people and for logs: on a terminal, live progress; without one,
 * one plain line per action with a timestamp, fit for cron mail and journald.
 *
 * @module
 */

import { formatSize } from "../core/format.ts";

/** Where command output goes. */
export interface Output {
  /** True when stdout is a terminal. */
  readonly interactive: boolean;
  /** A normal line (stdout). */
  print(line: string): void;
  /** An action line: timestamped when not interactive. */
  log(line: string): void;
  /** A warning or error line (stderr). */
  error(line: string): void;
  /** Progress of a transfer; drawn in place on a terminal, silent otherwise. */
  progress(
    label: string,
    bytes: number,
    elapsedMs: number,
    total?: number,
  ): void;
  /** Ends an in-place progress line. */
  endProgress(): void;
}

const _enc = new TextEncoder();

/** The process's output: stdout/stderr, terminal-aware. */
export function consoleOutput(options: { interactive?: boolean } = {}): Output {
  const interactive = options.interactive ?? Deno.stdout.isTerminal();
  let drawn = false;
  const clear = () => {
    if (drawn) Deno.stdout.writeSync(_enc.encode("\r\x1b[K"));
    drawn = false;
  };
  return {
    interactive,
    print(line) {
      clear();
      console.log(line);
    },
    log(line) {
      clear();
      console.log(interactive ? line : `${new Date().toISOString()} ${line}`);
    },
    error(line) {
      clear();
      console.error(line);
    },
    progress(label, bytes, elapsedMs, total) {
      if (!interactive) return;
      const rate = elapsedMs > 0 ? bytes / (elapsedMs / 1000) : 0;
      let left = "";
      if (total && rate > 0 && total > bytes) {
        left = `, ${Math.ceil((total - bytes) / rate)} s left`;
      }
      const line = `${label}: ${formatSize(bytes)}${
        total ? ` of ${formatSize(total)}` : ""
      } at ${formatSize(rate)}/s${left}`;
      Deno.stdout.writeSync(_enc.encode(`\r\x1b[K${line.slice(0, 200)}`));
      drawn = true;
    },
    endProgress: clear,
  };
}

/**
 * Output collected in memory (tests, library callers that want the lines):
 * `lines` holds everything in order; `stdout` what `print` and `log` wrote,
 * `stderr` what `error` wrote.
 */
export function memoryOutput(): Output & {
  lines: string[];
  stdout: string[];
  stderr: string[];
} {
  const lines: string[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const to = (stream: string[]) => (l: string) => {
    lines.push(l);
    stream.push(l);
  };
  return {
    interactive: false,
    lines,
    stdout,
    stderr,
    print: to(stdout),
    log: to(stdout),
    error: to(stderr),
    progress: () => {},
    endProgress: () => {},
  };
}
