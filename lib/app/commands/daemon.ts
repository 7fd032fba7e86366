/**
 * `daemon`: an update at each tick, for as long as it runs. Each remote is
 * listed once at start and then every `relist`; between, the listings are
 * kept in memory and updated from the daemon's own uploads and deletes, so
 * a tick with an unchanged source and nothing expiring costs no request. A
 * failed tick is logged, forgets the listings (what is in the remote is no
 * longer known) and is retried with backoff; the daemon itself stops only
 * when told: SIGTERM or SIGINT stop it cleanly (exit 0), SIGHUP reloads the
 * config, keeping the old one when the new one is bad. Under systemd
 * (`NOTIFY_SOCKET`) it reports READY=1 and pings the watchdog.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import { formatDuration } from "../../core/duration.ts";
import {
  finestTimeframeMs,
  UNIT_NOMINAL_MS,
} from "../../core/policy/timeframe.ts";
import { sdNotify } from "../../drivers/systemd/notify.ts";
import { loadConfig } from "../config/load.ts";
import type { Output } from "../output.ts";
import { preflight } from "../preflight.ts";
import { PreflightError } from "../preflight_error.ts";
import { describeRetry, RemoteSet } from "../remotes.ts";
import { monitoredUpdate } from "./monitored_update.ts";
import type { UpdateOptions } from "./update.ts";

const _HOUR = 3_600_000;
const _DAY = 24 * _HOUR;

/** Options of {@linkcode runDaemon}. */
export interface DaemonOptions {
  /** The policy file (reloaded on SIGHUP). */
  configPath: string;
  /** The config already loaded from `configPath` (default: loaded here). */
  config?: Config;
  /** Time between ticks, ms (default: the finest timeframe of the policies). */
  everyMs?: number;
  /** Time between full listings of each remote, ms (default 1 hour). */
  relistMs?: number;
  /** Where lines go. The plan of each tick is shown only with `verbose`. */
  output: Output;
  /** Full keys, each tick's plan, and a line per retried request. */
  verbose?: boolean;
  /** Stops the daemon as SIGTERM does (for callers that embed it). */
  signal?: AbortSignal;
  /** Listen for SIGTERM, SIGINT and SIGHUP (default true). */
  handleSignals?: boolean;
  /** Told after each tick (tests, monitors). */
  onTick?: (tick: DaemonTick) => void;
  /** Asks for a reload as SIGHUP does; the daemon calls it once with the trigger. */
  reloadTrigger?: (reload: () => void) => void;
  /** The systemd notification socket (default: `NOTIFY_SOCKET`). */
  notifySocket?: string;
  /** The watchdog interval in µs (default: `WATCHDOG_USEC` when `WATCHDOG_PID` is unset or ours). */
  watchdogUsec?: number;
}

/** One tick, as {@linkcode DaemonOptions.onTick} is told it. */
export interface DaemonTick {
  /** Ticks so far, this one included. */
  tick: number;
  /** The update succeeded (or had nothing to do). */
  ok: boolean;
  /** Its one-line summary, or the error. */
  summary: string;
  /** Full listings read from the remotes since the daemon started (one per remote at start, then at each relist, failure and reload). */
  listCalls: number;
  /** Failed ticks in a row (0 after a good one). */
  failures: number;
  /** Wait until the next tick, ms. */
  nextInMs: number;
}

/**
 * Runs the daemon until SIGTERM, SIGINT or `signal`.
 *
 * @param options See {@linkcode DaemonOptions}.
 * @throws {ConfigError} When the config cannot be loaded at start.
 * @throws {PreflightError} When it cannot work as started (a program, a permission, privilege); an unreachable remote is retried instead.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const out = options.output;
  const notifySocket = options.notifySocket ?? _env("NOTIFY_SOCKET");
  const notify = (state: string) => {
    if (notifySocket) sdNotify(state, notifySocket);
  };
  let config = options.config ?? await loadConfig(options.configPath);
  await _preflight(config, out);
  let remotes = _remoteSet(config, options, out);
  let everyMs = options.everyMs ?? _defaultEvery(config);
  const relistMs = options.relistMs ?? _HOUR;

  const stop = new AbortController();
  let tickAbort = new AbortController();
  let wake = () => {};
  let reloadWanted = false;
  const requestStop = (why: string) => {
    if (stop.signal.aborted) return;
    out.log(`stopping (${why})`);
    notify("STOPPING=1");
    stop.abort();
    tickAbort.abort(new Error(`stopped by ${why}`));
    wake();
  };
  const requestReload = () => {
    reloadWanted = true;
    wake();
  };
  options.signal?.addEventListener("abort", () => requestStop("request"), {
    once: true,
  });
  options.reloadTrigger?.(requestReload);
  const listeners: [Deno.Signal, () => void][] = [];
  if (options.handleSignals !== false) {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      listeners.push([sig, () => {
        // A second signal means now: an upload left open is undone by the next run's clean start.
        if (stop.signal.aborted) Deno.exit(sig === "SIGINT" ? 130 : 143);
        requestStop(sig);
      }]);
    }
    listeners.push(["SIGHUP", requestReload]);
    for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  }
  const watchdogUsec = options.watchdogUsec ?? _watchdogUsec();
  const watchdog = watchdogUsec
    ? setInterval(() => notify("WATCHDOG=1"), Math.max(watchdogUsec / 2000, 50))
    : undefined;

  const status = () =>
    `every ${formatDuration(everyMs)}, ${config.sources.length} source(s)`;
  out.log(
    `daemon started: ${options.configPath}, ${status()}, relisting every ${
      formatDuration(relistMs)
    }`,
  );
  notify(`READY=1\nSTATUS=${status()}`);

  let tick = 0;
  let failures = 0;
  // Listings read by remote sets a reload replaced.
  let listedBefore = 0;
  let listedAt = Date.now();
  let next = performance.now();
  try {
    while (!stop.signal.aborted) {
      if (!reloadWanted) await _sleepUntil(next, (w) => (wake = w));
      if (stop.signal.aborted) break;
      if (reloadWanted) {
        reloadWanted = false;
        const fresh = await _reload(options.configPath, out);
        if (fresh) {
          config = fresh;
          listedBefore += remotes.listCalls;
          remotes.close();
          remotes = _remoteSet(config, options, out);
          listedAt = Date.now();
          everyMs = options.everyMs ?? _defaultEvery(config);
          next = Math.min(next, performance.now() + everyMs);
          notify(`READY=1\nSTATUS=${status()}`);
        }
        continue;
      }
      if (performance.now() < next) continue;
      if (Date.now() - listedAt >= relistMs) {
        remotes.forgetListings();
        listedAt = Date.now();
      }
      tick++;
      tickAbort = new AbortController();
      const { ok, summary } = await _tick(
        config,
        remotes,
        options,
        tickAbort.signal,
      );
      if (stop.signal.aborted) break;
      let waitMs = everyMs;
      if (ok) {
        failures = 0;
      } else {
        failures++;
        // What the remotes hold is no longer known: list afresh next time.
        remotes.forgetListings();
        listedAt = Date.now();
        waitMs = failureBackoffMs(everyMs, failures);
        out.error(
          `tick ${tick} failed (${failures} in a row): ${summary}; next try in ${
            formatDuration(waitMs)
          }`,
        );
      }
      next = performance.now() + waitMs;
      options.onTick?.({
        tick,
        ok,
        summary,
        listCalls: listedBefore + remotes.listCalls,
        failures,
        nextInMs: waitMs,
      });
    }
  } finally {
    if (watchdog !== undefined) clearInterval(watchdog);
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
    remotes.close();
  }
  out.log(
    `daemon stopped after ${tick} tick(s) and ${
      listedBefore + remotes.listCalls
    } full listing(s)`,
  );
}

/**
 * The wait after `failures` failed ticks in a row: the tick interval,
 * doubling with each failure, at most 32 ticks or 6 hours (whichever is
 * less, but never less than one tick).
 *
 * @param everyMs The tick interval.
 * @param failures Failed ticks in a row, at least 1.
 * @returns Milliseconds.
 */
export function failureBackoffMs(everyMs: number, failures: number): number {
  const cap = Math.max(everyMs, Math.min(32 * everyMs, 6 * _HOUR));
  return Math.min(everyMs * 2 ** Math.min(failures - 1, 30), cap);
}

async function _tick(
  config: Config,
  remotes: RemoteSet,
  options: DaemonOptions,
  signal: AbortSignal,
): Promise<{ ok: boolean; summary: string }> {
  const base = options.output;
  // The plan of every tick would drown the log: actions and warnings are enough.
  const out: Output = options.verbose ? base : {
    interactive: false,
    print: () => {},
    log: (l) => base.log(l),
    error: (l) => base.error(l),
    progress: () => {},
    endProgress: () => {},
  };
  // `signal` stops an upload in progress where update supports it.
  const updateOptions: UpdateOptions & { signal?: AbortSignal } = {
    force: true,
    output: out,
    preflight: false,
    verbose: options.verbose,
    signal,
  };
  try {
    const r = await monitoredUpdate(config, updateOptions, { remotes });
    if (r.executed && r.ok) base.log(r.summary);
    return { ok: r.ok, summary: r.summary };
  } catch (e) {
    return { ok: false, summary: e instanceof Error ? e.message : String(e) };
  }
}

/** The config's remotes, their retries told on stderr with `verbose`. */
function _remoteSet(
  config: Config,
  options: DaemonOptions,
  out: Output,
): RemoteSet {
  return new RemoteSet(config.remotes, {
    onRetry: options.verbose
      ? (id, info) => out.error(describeRetry(id, info))
      : undefined,
  });
}

/** Preflight at start: what restarting cannot fix is fatal, an unreachable remote is not. */
async function _preflight(config: Config, out: Output): Promise<void> {
  try {
    await preflight(config);
  } catch (e) {
    if (!(e instanceof PreflightError) || !e.onlyRemotes) throw e;
    for (const p of e.problems) {
      out.error(`warning: ${p.message}; the daemon keeps trying`);
    }
  }
}

/** The config anew, or null (logged) when it is bad: the old one stays. */
async function _reload(path: string, out: Output): Promise<Config | null> {
  try {
    const config = await loadConfig(path);
    await _preflight(config, out);
    out.log(`reloaded ${path}`);
    return config;
  } catch (e) {
    out.error(
      `reload of ${path} failed, keeping the previous config: ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
    return null;
  }
}

function _defaultEvery(config: Config): number {
  return finestTimeframeMs(
    config.sources.flatMap((s) => s.upload.map((u) => u.preserve)),
    _DAY,
    UNIT_NOMINAL_MS,
  );
}

/** Resolves at `at` (performance.now() time), or as soon as `onWake`'s function is called. */
function _sleepUntil(
  at: number,
  onWake: (wake: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, at - performance.now()));
    function done() {
      clearTimeout(timer);
      onWake(() => {});
      resolve();
    }
    onWake(done);
  });
}

function _env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function _watchdogUsec(): number | undefined {
  const usec = Number(_env("WATCHDOG_USEC"));
  const pid = _env("WATCHDOG_PID");
  if (!(usec > 0)) return undefined;
  if (pid !== undefined && Number(pid) !== Deno.pid) return undefined;
  return usec;
}
