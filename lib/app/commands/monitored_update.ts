/**
 * An update as an unattended run makes it: the config's `notify` hooks told
 * at the start and at the end, and its `metricsFile` rewritten after it. A
 * hook or metrics failure is a warning; it never fails the backup.
 *
 * @module
 */

import { resolve } from "node:path";
import type { Config } from "../../core/config_types.ts";
import { parseKey } from "../../core/keys.ts";
import { formatIsoSeconds } from "../../core/zone.ts";
import type { Plan } from "../../core/plan/plan.ts";
import { type MetricsRun, writeMetricsFile } from "../metrics.ts";
import { notifyHook } from "../notify.ts";
import { memoryOutput } from "../output.ts";
import type { UploadRecord } from "../world.ts";
import {
  type UpdateContext,
  updateIn,
  type UpdateOptions,
  type UpdateResult,
} from "./update.ts";

/** The JSON a `success` or `failure` hook receives. */
export interface RunSummary {
  /** Which hook. */
  event: "success" | "failure";
  /** The run succeeded (or had nothing to do). */
  ok: boolean;
  /** The run's one-line summary, or the error that stopped it. */
  summary: string;
  /** ISO-8601 in the config's zone. */
  startedAt: string;
  /** ISO-8601 in the config's zone. */
  endedAt: string;
  /** From start to end. */
  durationMs: number;
  /** Snapshots created. */
  created: number;
  /** Backups uploaded (`<remote>:<key>`). */
  uploaded: string[];
  /** Bytes uploaded. */
  bytesUploaded: number;
  /** Snapshots destroyed. */
  destroyed: number;
  /** Backups deleted. */
  deleted: number;
  /** What failed, when something did. */
  error: string | null;
}

/**
 * Runs {@linkcode update} with the config's hooks and metrics file. With
 * `pretend` it is a plain update: nothing is told or written.
 *
 * @param config A validated config.
 * @param options As for {@linkcode update}.
 * @param context What a long-running caller lends the update (its remotes).
 * @returns The update's result; an error it throws is rethrown after the failure hook and the metrics.
 */
export async function monitoredUpdate(
  config: Config,
  options: UpdateOptions = {},
  context: UpdateContext = {},
): Promise<UpdateResult> {
  if (options.pretend || (!config.notify && !config.metricsFile)) {
    return await updateIn(context, config, options);
  }
  const out = options.output ?? memoryOutput();
  const warn = (line: string) => out.error(`warning: ${line}`);
  const zone = config.timezone;
  const started = Temporal.Now.instant();
  await notifyHook(config.notify, "start", {
    event: "start",
    startedAt: formatIsoSeconds(started, zone),
    sources: config.sources.map((s) => s.path),
  }, warn);
  let result: UpdateResult | undefined;
  let thrown: unknown;
  try {
    result = await updateIn(context, config, { ...options, output: out });
  } catch (e) {
    thrown = e;
  }
  const ended = Temporal.Now.instant();
  const report = result?.report;
  const bytesUploaded = (result?.uploads ?? []).reduce(
    (n, u) => n + u.bytes,
    0,
  );
  const error = thrown !== undefined
    ? (thrown instanceof Error ? thrown.message : String(thrown))
    : report?.error?.message ?? (result?.ok ? null : result?.summary ?? null);
  const ok = result?.ok === true && thrown === undefined;
  const summary: RunSummary = {
    event: ok ? "success" : "failure",
    ok,
    summary: result?.summary ?? `failed: ${error}`,
    startedAt: formatIsoSeconds(started, zone),
    endedAt: formatIsoSeconds(ended, zone),
    durationMs: ended.epochMilliseconds - started.epochMilliseconds,
    created: report?.created.length ?? 0,
    uploaded: report?.uploaded ?? [],
    bytesUploaded,
    destroyed: report?.destroyed ?? 0,
    deleted: report?.deleted ?? 0,
    error,
  };
  await notifyHook(config.notify, summary.event, summary, warn);
  if (config.metricsFile) {
    const run: MetricsRun = {
      ok,
      endedMs: ended.epochMilliseconds,
      durationMs: summary.durationMs,
      bytesUploaded,
      backupsUploaded: summary.uploaded.length,
      newest: result ? newestBackups(config, result.plan, result.uploads) : [],
    };
    try {
      await writeMetricsFile(config.metricsFile, run);
    } catch (e) {
      warn(
        `metricsFile ${config.metricsFile}: cannot write it: ${
          (e as Error).message
        }`,
      );
    }
  }
  if (thrown !== undefined) throw thrown;
  return result!;
}

/**
 * The newest backup of each source in each of its remotes after the run:
 * the plan's existing backups and what the run uploaded. Pairs without any
 * backup are left out.
 *
 * @param config The config (for its sources' remotes).
 * @param plan The plan the run made.
 * @param uploads What the run uploaded.
 * @returns One entry per source and remote that has a backup.
 */
export function newestBackups(
  config: Config,
  plan: Plan,
  uploads: readonly UploadRecord[],
): MetricsRun["newest"] {
  const out: MetricsRun["newest"] = [];
  const uploaded = uploads.flatMap((u) => {
    const parsed = parseKey(u.key);
    return parsed.ok ? [{ remote: u.remote, key: parsed.key }] : [];
  });
  for (const src of config.sources) {
    const sp = plan.sources.find((s) => resolve(s.path) === resolve(src.path));
    if (!sp) continue;
    for (const remote of new Set(src.upload.map((u) => u.remote))) {
      const candidates = [
        ...sp.backups.flatMap((v) =>
          v.kind === "existing" && v.remoteId === remote ? [v.backup] : []
        ),
        ...uploaded.filter((u) =>
          u.remote === remote && u.key.sourceUuid === sp.uuid
        ).map((u) => u.key),
      ];
      if (!candidates.length) continue;
      const newest = candidates.reduce((a, b) =>
        b.ctransid > a.ctransid ? b : a
      );
      out.push({
        source: src.path,
        remote,
        ctimeMs: newest.ctime.epochMilliseconds,
      });
    }
  }
  return out;
}
