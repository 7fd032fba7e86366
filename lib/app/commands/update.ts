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
import { executorWorld, type UploadRecord } from "../world.ts";

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
  try {
    await checkObjectLock(config, remotes);
    await _warnAboutListings(config, remotes, warn);
    let plan = await _plan(config, remotes, options.now, warn);
    if (isEmptyPlan(plan)) {
      return done({
        ok: true,
        executed: false,
        summary: "nothing to do",
        plan,
      });
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
          const fresh = await _plan(config, remotes, options.now, warn);
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
    const world = executorWorld(config, remotes, out, {
      verbose: options.verbose,
      onUploaded: (u) => uploads.push(u),
    });
    const report = await executePlan(plan, world);
    return done({
      ok: !report.error,
      executed: true,
      summary: _summary(report),
      plan,
      report,
    });
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
  const used = new Set(
    config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
  );
  for (const id of used) {
    // The listing's warnings already name each incomplete backup.
    for (const w of (await remotes.listing(id)).warnings) warn(`${id}: ${w}`);
  }
}

/**
 * The plan for now (or `now`), with the planner's warnings shown; refused
 * when the clock reads earlier than what the sources and remotes hold.
 */
async function _plan(
  config: Config,
  remotes: RemoteSet,
  now: Temporal.Instant | undefined,
  warn: (line: string) => void,
): Promise<Plan> {
  const input = {
    timeZone: config.timezone,
    now: now ?? Temporal.Now.instant(),
    sources: await inventory(config, remotes),
  };
  const skew = clockSkew(input);
  if (skew !== null) {
    throw new GuardError("clock", clockSkewMessage(skew, config.timezone));
  }
  const plan = makePlan(input);
  for (const s of plan.sources) {
    for (const w of s.warnings) warn(`${s.path}: ${w}`);
  }
  return plan;
}

/** Stops a plan that removes more than half of what a source has, unless allowed. */
function _guardMassDeletion(plan: Plan, options: UpdateOptions): void {
  if (options.allowMassDelete || !hasMassDeletion(plan)) return;
  throw new GuardError("mass-delete", massDeletionMessage(plan), plan);
}

function _summary(r: ExecuteReport): string {
  const parts = [
    `${r.created.length} snapshot(s) created`,
    `${r.uploaded.length} backup(s) uploaded`,
    `${r.destroyed} snapshot(s) destroyed`,
    `${r.deleted} backup(s) deleted`,
    ...(r.retained ? [`${r.retained} retention(s) extended`] : []),
  ];
  return r.error
    ? `failed: ${r.error.message} (${parts.join(", ")})`
    : parts.join(", ");
}
