/**
 * Run-scoped handling of SIGINT and SIGTERM. The first signal aborts the
 * run's `AbortSignal`: the run stops reading, undoes what it had started
 * (open uploads, partial objects, its `.NEW.` snapshot), releases its lock
 * and exits 130 or 143. A second signal exits at once with that signal's
 * code, after killing every pipe stage still running (the kernel releases
 * the lock; the next run's clean start takes care of the rest).
 *
 * @module
 */

import { killAllStages } from "../drivers/pipe/process_group.ts";

/** The signals a run stops on. */
export type InterruptSignal = "SIGINT" | "SIGTERM";

/** The exit code for a run stopped by `signal`: 128 + its number. */
export function interruptExitCode(signal: InterruptSignal): 130 | 143 {
  return signal === "SIGINT" ? 130 : 143;
}

/** The reason a run's signal is aborted with: the run was interrupted by SIGINT or SIGTERM. */
export class InterruptedError extends Error {
  /** The signal received. */
  readonly signal: InterruptSignal;
  /** 130 for SIGINT, 143 for SIGTERM. */
  readonly exitCode: 130 | 143;

  /**
   * Builds the error.
   *
   * @param signal The signal received.
   * @param message What was stopped (default: "interrupted by SIGX").
   */
  constructor(signal: InterruptSignal, message?: string) {
    super(message ?? `interrupted by ${signal}`);
    this.name = "InterruptedError";
    this.signal = signal;
    this.exitCode = interruptExitCode(signal);
  }
}

/** Options of {@linkcode interruptScope}. */
export interface InterruptScopeOptions {
  /** Called on the first signal, e.g. to say that the run is stopping. */
  onInterrupt?: (signal: InterruptSignal) => void;
  /** Called on the second signal instead of exiting the process (tests). */
  onForcedExit?: (code: 130 | 143) => void;
}

/** A run's cancellation: abort on the first signal, exit on the second. */
export interface InterruptScope extends Disposable {
  /** Aborted with an {@linkcode InterruptedError} on the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: InterruptSignal | null;
  /**
   * Runs `fn` with the signals' default effect (ending the process), for a
   * blocking prompt, during which no handler could run; then listens again.
   */
  paused<T>(fn: () => T): T;
  /** Stops listening; signals then have their default effect again. */
  dispose(): void;
}

const _SIGNALS: readonly InterruptSignal[] = ["SIGINT", "SIGTERM"];

/**
 * Listens for SIGINT and SIGTERM until disposed (`using scope = interruptScope()`).
 *
 * @param options What to say on the first signal.
 * @returns The scope, whose `signal` the run passes down.
 */
export function interruptScope(
  options: InterruptScopeOptions = {},
): InterruptScope {
  const controller = new AbortController();
  let received: InterruptSignal | null = null;
  const handlers: [InterruptSignal, () => void][] = _SIGNALS.map((sig) => {
    const handler = () => {
      if (received === null) {
        received = sig;
        options.onInterrupt?.(sig);
        controller.abort(new InterruptedError(sig));
        return;
      }
      // Second signal: no more cleaning up.
      killAllStages();
      const code = interruptExitCode(sig);
      if (options.onForcedExit) options.onForcedExit(code);
      else Deno.exit(code);
    };
    Deno.addSignalListener(sig, handler);
    return [sig, handler];
  });
  let disposed = false;
  const remove = () => {
    for (const [sig, handler] of handlers) {
      Deno.removeSignalListener(sig, handler);
    }
  };
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    remove();
  };
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    paused<T>(fn: () => T): T {
      if (disposed) return fn();
      remove();
      try {
        return fn();
      } finally {
        for (const [sig, handler] of handlers) {
          Deno.addSignalListener(sig, handler);
        }
      }
    },
    dispose,
    [Symbol.dispose]: dispose,
  };
}
