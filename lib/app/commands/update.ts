/**
 * `update`: snapshot the sources that changed, plan, preview, confirm, and
 * carry the plan out in the safe order.
 *
 * @module
 */

import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateLayout } from "../config/layout.ts";
import { validateConfig } from "../config/validate.ts";
import { executePlan, type ExecuteReport } from "../../core/plan/executor.ts";
import { isEmptyPlan, type Plan } from "../../core/plan/plan.ts";
import { plan as makePlan } from "../../core/plan/planner.ts";
import { renderPlan } from "../../core/plan/preview.ts";
import { confirmFresh } from "../../core/plan/confirm.ts";
import {
  clockSkew,
  clockSkewMessage,
  GuardError,
  hasMassDeletion,
  massDeletionMessage,
} from "../../core/plan/guards.ts";
import { inventory } from "../inventory.ts";
import { memoryOutput, type Output } from "../output.ts";
import { preflight } from "../preflight.ts";
import { describeRetry, RemoteSet } from "../remotes.ts";
import { checkObjectLock } from "../object_lock.ts";
import { checkRemoteMarkers } from "../remote_markers.ts";
import type { RemoteMarker } from "../../drivers/remote/remote.ts";
import { orphanManifests } from "../../drivers/transfer/manifest.ts";
import { executorWorld, type UploadRecord } from "../world.ts";
import { lockSources } from "../run_lock.ts";
import { runLockOptions } from "./_context.ts";
import { InterruptedError } from "../interrupt.ts";
import {
  carryOutCleanStart,
  type CleanStart,
  cleanStartActs,
  decideUploads,
  findStale,
  renderCleanStart,
  withoutDestroyed,
} from "../clean_start.ts";

/** Options of {@linkcode update}. */
export interface UpdateOptions {
  /** Carry the plan out without asking. */
  force?: boolean;
  /** Print the plan and stop. */
  pretend?: boolean;
  /** Asked when neither `force` nor `pretend` is set; the plan runs only on true. */
  confirm?: (plan: Plan) => Promise<boolean>;
  /** Where lines go (default: collected in memory). */
  output?: Output;
  /** The time to plan for (default: now). */
  now?: Temporal.Instant;
  /** Colour the preview. */
  color?: boolean;
  /** Log lines carry full paths and keys; a line per retry of a request. */
  verbose?: boolean;
  /**
   * Carry out a plan that deletes more than half of a remote's backups of a
   * source, or destroys more than half of a source's snapshots (more than 2);
   * without it such a run stops before acting (`--allow-mass-delete`).
   */
  allowMassDelete?: boolean;
  /** Bandwidth limit of every S3 remote, bytes per second, over their `bandwidth` (`--bwlimit`). */
  bandwidth?: number;
  /**
   * Check programs, permissions, privilege and remotes before anything
   * changes (default true; a caller that checked already may skip it).
   */
  preflight?: boolean;
  /**
   * Mark a local-directory remote that has no snap2s3 marker yet although a
   * source already has snapshots (`--init-remote`). Without it such a run is
   * refused: the directory is most likely an unmounted disk's mount point.
   */
  initRemote?: boolean;
  /**
   * Seconds to wait while another run holds a source's lock: 0 (the default)
   * fails at once with a `LockHeldError`, Infinity waits as long as it takes.
   */
  waitLock?: number;
  /**
   * Stops the run: the upload in progress is undone (its multipart upload
   * aborted, its partial objects deleted, `btrfs send` and the pipe stages
   * killed), nothing more is started, and the result's `report.error` (or the
   * rejection, before the plan runs) is the signal's reason.
   */
  signal?: AbortSignal;
}

/** What a long-running caller (the daemon) lends an update; not public. */
export interface UpdateContext {
  /**
   * The config's remotes with the listings they keep (listed once, reused
   * and kept current by the run's uploads and deletes); left open.
   */
  remotes?: RemoteSet;
}

/** Outcome of {@linkcode update}. */
export interface UpdateResult {
  /** True when the plan was carried out without error (or there was nothing to do, or it was only previewed). */
  ok: boolean;
  /** Whether the plan was executed. */
  executed: boolean;
  /** One line for logs and monitors. */
  summary: string;
  /** The plan that was shown (and carried out when `executed`). */
  plan: Plan;
  /** What the executor did, when it ran. */
  report?: ExecuteReport;
  /** Each backup uploaded, with its size and duration. */
  uploads: UploadRecord[];
  /** Every warning shown (incomplete backups, planner warnings). */
  warnings: string[];
  /** From the start to the end of the run, in ms. */
  durationMs: number;
}

/**
 * Runs one update: snapshot, plan, preview, confirm, execute.
 *
 * @param configInput A config (validated here).
 * @param options See {@linkcode UpdateOptions}.
 * @returns The plan, what was done, and a one-line summary.
 * @throws {ConfigError} For a bad config or disk layout, before anything is made.
 * @throws {GuardError} Before anything is made, when the clock reads more than
 * 10 minutes earlier than the newest snapshot or backup, or when the plan would
 * remove more than half of what a source has and `allowMassDelete` is not set.
 * @throws {UnmarkedRemoteError} Before anything is made, when a local remote
 * has no marker although a source already has snapshots and `initRemote` is
 * not set.
 */
export function update(
  configInput: Config | ConfigInput,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  return updateIn({}, configInput, options);
}

/**
 * {@linkcode update} with what a long-running caller lends it.
 *
 * @param context The caller's remotes.
 * @param configInput A config (validated here).
 * @param options See {@linkcode UpdateOptions}.
 * @returns As {@linkcode update}.
 */
export async function updateIn(
  context: UpdateContext,
  configInput: Config | ConfigInput,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  const started = performance.now();
  const config = validateConfig(configInput);
  // Before the layout check, which already needs FFI.
  if (options.preflight !== false) {
    await preflight(config, { pretend: options.pretend });
  }
  await validateLayout(config);
  const out = options.output ?? memoryOutput();
  const warnings: string[] = [];
  const warn = (line: string) => {
    // A plan made again after a slow answer repeats its warnings: show each once.
    if (warnings.includes(line)) return;
    warnings.push(line);
    out.error(`warning: ${line}`);
  };
  const uploads: UploadRecord[] = [];
  const done = (
    r: Pick<UpdateResult, "ok" | "executed" | "summary" | "plan" | "report">,
  ): UpdateResult => ({
    ...r,
    uploads,
    warnings,
    durationMs: Math.round(performance.now() - started),
  });
  const signal = options.signal;
  // One run per source, from the inventory to the end of execution.
  await using _locks = await lockSources(
    config,
    runLockOptions("update", options, out),
  );
  const remotes = context.remotes ?? new RemoteSet(config.remotes, {
    onRetry: options.verbose
      ? (id, info) => out.error(describeRetry(id, info))
      : undefined,
    bandwidth: options.bandwidth,
  });
  const render = (p: Plan) =>
    renderPlan(p, {
      color: options.color,
      allowMassDelete: options.allowMassDelete,
    });
  // Markers of local remotes to write once the run acts.
  const markers = new Set<RemoteMarker>();
  const housekeeping = async () => {
    for (const m of markers) await m.write();
    // Listing manifests costs nothing in a local directory: there, every run tidies.
    await _deleteOrphanManifests(config, remotes, out, (id) => local.has(id));
  };
  const local = new Set(
    config.remotes.filter((r) => r.kind === "local").map((r) => r.id),
  );
  // What interrupted runs left, found with each plan.
  let clean: CleanStart = { snapshots: [], uploads: [], warnings: [] };
  const plan0 = async () => {
    const made = await _plan(config, remotes, options, warn, markers);
    clean = made.clean;
    return made.plan;
  };
  try {
    signal?.throwIfAborted();
    await checkObjectLock(config, remotes);
    await _warnAboutListings(config, remotes, warn);
    let plan = await plan0();
    signal?.throwIfAborted();
    if (isEmptyPlan(plan) && !cleanStartActs(clean)) {
      if (!options.pretend) await housekeeping();
      return done({
        ok: true,
        executed: false,
        summary: "nothing to do",
        plan,
      });
    }
    const cleanLines = renderCleanStart(clean);
    if (cleanLines.length) {
      out.print(
        ["Left by interrupted runs:", ...cleanLines.map((l) => `  ${l}`)].join(
          "\n",
        ),
      );
    }
    out.print(render(plan));
    if (options.pretend) {
      return done({
        ok: true,
        executed: false,
        summary: "pretend: nothing done",
        plan,
      });
    }
    _guardMassDeletion(plan, options);
    if (!options.force) {
      const confirmed = await confirmFresh(plan, {
        confirm: (p) => options.confirm?.(p) ?? Promise.resolve(false),
        replan: async () => {
          // The answer took long: what is on disk and in the remotes may have moved.
          remotes.forgetListings();
          const fresh = await plan0();
          _guardMassDeletion(fresh, options);
          return fresh;
        },
        showChanged: (p) => {
          out.print(
            "The plan changed while waiting for the answer; here it is again:",
          );
          out.print(render(p));
        },
        clock: () => Temporal.Now.instant(),
      });
      if (confirmed === null) {
        return done({
          ok: false,
          executed: false,
          summary: "not confirmed: nothing done",
          plan,
        });
      }
      plan = confirmed;
    }
    signal?.throwIfAborted();
    await housekeeping();
    const world = executorWorld(config, remotes, out, {
      verbose: options.verbose,
      onUploaded: (u) => uploads.push(u),
      signal,
    });
    const cleaned = await carryOutCleanStart(
      clean,
      remotes,
      (line) => out.log(line),
      signal,
    );
    const report = await executePlan(plan, world);
    // Whatever stopped the run (an undone upload, a killed send), the signal is why.
    if (signal?.aborted && signal.reason instanceof InterruptedError) {
      report.error = signal.reason;
    }
    // A listing is billed on S3: tidy there only after writing a manifest
    // (a multipart backup), the kind of upload that can leave one behind.
    const wrote = new Set(
      uploads.filter((u) => u.manifest && !local.has(u.remote)).map((u) =>
        u.remote
      ),
    );
    if (!signal?.aborted) {
      await _deleteOrphanManifests(config, remotes, out, (id) => wrote.has(id))
        .catch((e) => warn(`tidying manifests: ${(e as Error)?.message ?? e}`));
    }
    return done({
      ok: !report.error,
      executed: true,
      summary: _summary(report, cleaned),
      plan,
      report,
    });
  } catch (e) {
    if (e instanceof InterruptedError && e === signal?.reason) {
      throw new InterruptedError(
        e.signal,
        `${e.message} before the plan ran; nothing was changed`,
      );
    }
    throw e;
  } finally {
    if (!context.remotes) remotes.close();
  }
}

/**
 * Lists each remote some source uploads to (an unused one is never
 * contacted) and warns about what it holds that is not a complete backup.
 */
async function _warnAboutListings(
  config: Config,
  remotes: RemoteSet,
  warn: (line: string) => void,
): Promise<void> {
  for (const id of _usedRemotes(config)) {
    // The listing's warnings already name each incomplete backup.
    for (const w of (await remotes.listing(id)).warnings) warn(`${id}: ${w}`);
  }
}

/** The ids of the remotes some source uploads to (an unused one is never contacted). */
function _usedRemotes(config: Config): Set<string> {
  return new Set(config.sources.flatMap((s) => s.upload.map((u) => u.remote)));
}

/**
 * The plan for now (or `options.now`), with the planner's warnings shown, and
 * what interrupted runs left (planned around: stale copies are not planned
 * for); refused when a local remote looks unmounted (see
 * {@linkcode checkRemoteMarkers}; the markers to write go into `markers`) or
 * when the clock reads earlier than what the sources and remotes hold.
 */
async function _plan(
  config: Config,
  remotes: RemoteSet,
  options: UpdateOptions,
  warn: (line: string) => void,
  markers: Set<RemoteMarker>,
): Promise<{ plan: Plan; clean: CleanStart }> {
  const sources = await inventory(config, remotes);
  const clean = await findStale(config, sources, remotes);
  for (const w of clean.warnings) warn(w);
  for (
    const m of await checkRemoteMarkers(sources, remotes, options.initRemote)
  ) {
    markers.add(m);
  }
  const input = {
    timeZone: config.timezone,
    now: options.now ?? Temporal.Now.instant(),
    sources: withoutDestroyed(sources, clean),
  };
  const skew = clockSkew(input);
  if (skew !== null) {
    throw new GuardError("clock", clockSkewMessage(skew, config.timezone));
  }
  const plan = makePlan(input);
  decideUploads(clean, plan);
  for (const s of plan.sources) {
    for (const w of s.warnings) warn(`${s.path}: ${w}`);
  }
  return { plan, clean };
}

/** Stops a plan that removes more than half of what a source has, unless allowed. */
function _guardMassDeletion(plan: Plan, options: UpdateOptions): void {
  if (options.allowMassDelete || !hasMassDeletion(plan)) return;
  throw new GuardError("mass-delete", massDeletionMessage(plan), plan);
}

/**
 * Deletes the manifests whose backup is absent (an upload killed after its
 * manifest was written and before its objects completed) in each remote a
 * source uploads to, of those `which` picks.
 */
async function _deleteOrphanManifests(
  config: Config,
  remotes: RemoteSet,
  out: Output,
  which: (remoteId: string) => boolean,
): Promise<void> {
  for (const id of _usedRemotes(config)) {
    if (!which(id)) continue;
    const l = await remotes.listing(id);
    const listed = [
      ...l.backups.flatMap((b) => b.keys),
      ...l.foreign.map((f) => f.key),
      ...l.incomplete.flatMap((i) => i.keys),
    ];
    const orphans = await orphanManifests(remotes.get(id), listed);
    if (orphans.length === 0) continue;
    await remotes.get(id).delete(orphans);
    for (const k of orphans) {
      out.log(`${id}: deleted manifest ${k}: its backup is absent`);
    }
  }
}

function _summary(
  r: ExecuteReport,
  cleaned: { destroyed: number; aborted: number },
): string {
  const parts = [
    `${r.created.length} snapshot(s) created`,
    `${r.uploaded.length} backup(s) uploaded`,
    `${r.destroyed} snapshot(s) destroyed`,
    `${r.deleted} backup(s) deleted`,
    ...(r.retained ? [`${r.retained} retention(s) extended`] : []),
  ];
  if (r.skipped.length) parts.push(`${r.skipped.length} upload(s) skipped`);
  if (r.destroysSkipped) {
    parts.push(
      `${r.destroysSkipped} snapshot(s) kept that the plan would destroy`,
    );
  }
  if (r.deletesSkipped) {
    parts.push(`${r.deletesSkipped} backup(s) kept that the plan would delete`);
  }
  if (cleaned.destroyed) {
    parts.push(`${cleaned.destroyed} stale snapshot(s) destroyed`);
  }
  if (cleaned.aborted) parts.push(`${cleaned.aborted} stale upload(s) aborted`);
  if (!r.error) return parts.join(", ");
  if (r.error instanceof InterruptedError) {
    return `${r.error.message}: the step in progress was undone; kept what was done: ${
      parts.join(", ")
    }`;
  }
  const first = r.failed[0];
  const what = first && first.error === r.error
    ? `${r.failed.length} upload(s) failed; the first, to ${first.remoteId}: ${r.error.message}`
    : r.error.message;
  return `failed: ${what} (${parts.join(", ")})`;
}
