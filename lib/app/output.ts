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

/**
 * The time at the start of a log line: milliseconds and the zone's offset
 * (`Z` in UTC), so the log reads in the same zone as the plan.
 *
 * @param ms The time, in ms since the epoch.
 * @param timeZone IANA zone (default UTC).
 * @returns E.g. `2024-05-01T14:00:00.123+02:00`.
 */
export function logTime(ms: number, timeZone = "UTC"): string {
  if (timeZone === "UTC" || timeZone === "Etc/UTC") {
    return new Date(ms).toISOString();
  }
  return Temporal.Instant.fromEpochMilliseconds(ms).toString({
    timeZone,
    fractionalSecondDigits: 3,
  });
}

/** Options of {@linkcode consoleOutput}. */
export interface ConsoleOutputOptions {
  /** Draw progress and leave lines unstamped (default: whether stdout is a terminal). */
  interactive?: boolean;
  /** Zone of the log lines' timestamps (default UTC). */
  timeZone?: string;
}

/** The process's output: stdout/stderr, terminal-aware. */
export function consoleOutput(options: ConsoleOutputOptions = {}): Output {
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
      console.log(
        interactive ? line : `${logTime(Date.now(), options.timeZone)} ${line}`,
      );
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

/** How the command line shapes its output: see {@linkcode modeOutput}. */
export interface OutputMode {
  /** stdout holds only the command's JSON object: every human line goes to stderr. */
  json?: boolean;
  /** Nothing but warnings and errors. */
  quiet?: boolean;
  /** Zone of the log lines' timestamps (the config's). */
  timeZone?: string;
}

/**
 * `base` shaped by a mode: with `json`, lines that would go to stdout go to
 * stderr and no progress is drawn; with `quiet`, only `error` lines remain.
 * Log lines are stamped in `mode.timeZone` when not interactive.
 *
 * @param base Where lines end up.
 * @param mode The flags.
 * @returns The shaped output.
 */
export function modeOutput(base: Output, mode: OutputMode): Output {
  const none = () => {};
  const human = mode.json
    ? (l: string) => base.error(l)
    : (l: string) => base.print(l);
  return {
    interactive: base.interactive,
    print: mode.quiet ? none : human,
    log: mode.quiet ? none : (l) =>
      human(
        base.interactive ? l : `${logTime(Date.now(), mode.timeZone)} ${l}`,
      ),
    error: (l) => base.error(l),
    progress: mode.quiet || mode.json
      ? none
      : (label, bytes, elapsedMs, total) =>
        base.progress(label, bytes, elapsedMs, total),
    endProgress: () => base.endProgress(),
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
