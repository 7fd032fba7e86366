/**
 * `snap2s3 simulate`: replay a policy over a schedule and print the final
 * tree of snapshots and backups.
 *
 * @module
 */

import { Zone } from "../../core/zone.ts";
import { parsePolicy } from "../../core/policy/grammar.ts";
import type { Unit } from "../../core/policy/vocabulary.ts";
import { renderPlan } from "../../core/plan/preview.ts";
import { simulate } from "../../core/plan/simulate.ts";
import { historyRecorder, summarizeHistory } from "../../core/plan/history.ts";
import { backupBytes, costWindow, estimateCost } from "../../core/plan/cost.ts";
import type {
  CostEstimate,
  SizeModel,
  TransferModel,
} from "../../core/plan/cost_model.ts";
import { renderCost, renderHistory } from "../../core/plan/simulate_report.ts";
import type { PriceTable } from "../../core/prices/price_table.ts";
import { formatSize } from "../../core/format.ts";
import { providerPreset } from "../../drivers/remote/providers.ts";
import {
  DOWNLOAD_RANGE_SIZE,
  rangedGets,
  uploadRequests,
} from "../../drivers/transfer/request_shape.ts";
import type { Output } from "../output.ts";

/** What `simulate --price` needs, already checked. */
export interface SimulateCostOptions {
  /** The provider's price list. */
  prices: PriceTable;
  /** Sizes of backups. */
  size: SizeModel;
  /** Class of objects no `storageClasses` entry names (default: the list's default, STANDARD). */
  storageClass?: string;
  /** Class of a backup by the coarsest interval it is uploaded for. */
  storageClasses?: Partial<Record<Unit, string>>;
  /** The stretch before `end` the monthly figures average over (default: one interval of the coarsest unit). */
  window?: Temporal.Duration;
  /** Assumed download rate of a restore, bytes per second. */
  restoreBytesPerSecond: number;
}

/** Options of {@linkcode simulateCommand}, already checked. */
export interface SimulateCommandOptions {
  /** The preservation policy, e.g. `1y 3m 30d 24h`. */
  policy: string;
  /** IANA time zone of the schedule and the policy. */
  timeZone: string;
  /** First run. */
  start: Temporal.Instant;
  /** Last run (inclusive). */
  end: Temporal.Instant;
  /** Wall-clock step between runs. */
  every: Temporal.Duration;
  /** Print one JSON object instead of the tree. */
  json?: boolean;
  /** Price the history (`--price`). */
  cost?: SimulateCostOptions;
}

/** The transfer manager's request shapes for a provider's default limits. */
export function transferModel(provider: "aws" | "r2" | "b2"): TransferModel {
  const preset = providerPreset(provider);
  const limits = preset.limits;
  const part = formatSize(limits.partSize);
  return {
    upload: (bytes) => uploadRequests(bytes, limits),
    rangedGets: (objects) => rangedGets(objects),
    listPageSize: 1000,
    describe:
      `a backup of at most ${part} is one PutObject; a larger one is a multipart upload (create, parts, complete) with ${
        limits.equalParts
          ? `${part} parts, all equal as ${preset.title} requires`
          : `${part} parts, doubling every 1,000 parts`
      }, as the transfer manager sends to ${preset.title}; restores read ${
        formatSize(DOWNLOAD_RANGE_SIZE)
      } ranges`,
  };
}

/**
 * Runs the simulation and prints the final tree, the history per month and,
 * with `cost`, the estimate (or, with `json`, `{"snapshots": [...],
 * "backups": [{"ctime", "parent"}], "history": {...}, "cost": {...}}`) with
 * `out.print`.
 *
 * @param options The schedule and policy.
 * @param out Where the result goes.
 * @throws {RangeError} When the schedule cannot be simulated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryOutput } from "../output.ts";
 * import { simulateCommand } from "./simulate.ts";
 * const out = memoryOutput();
 * simulateCommand({
 *   policy: "2d", timeZone: "UTC",
 *   start: Temporal.Instant.from("2024-01-01T00:00:00Z"),
 *   end: Temporal.Instant.from("2024-01-02T00:00:00Z"),
 *   every: Temporal.Duration.from("PT12H"), json: true,
 * }, out);
 * assert.equal(JSON.parse(out.stdout.join("\n")).snapshots.length, 2);
 * ```
 */
export function simulateCommand(
  options: SimulateCommandOptions,
  out: Output,
): void {
  const recorder = historyRecorder();
  const result = simulate({ ...options, onRun: recorder.onRun });
  const zone = Zone.get(options.timeZone);
  const iso = (t: Temporal.Instant): string =>
    zone.formatIso(t.epochMilliseconds);
  const c = options.cost;
  const history = summarizeHistory(
    recorder.runs,
    options.timeZone,
    c ? (u) => backupBytes(u, c.size) : undefined,
  );
  let estimate: CostEstimate | undefined;
  const costWarnings: string[] = [];
  if (c) {
    const { window, warnings } = costWindow(
      parsePolicy(options.policy),
      options.start,
      options.end,
      options.timeZone,
      c.window,
    );
    costWarnings.push(...warnings);
    estimate = estimateCost(recorder.runs, {
      prices: c.prices,
      size: c.size,
      transfer: transferModel(c.prices.id as "aws" | "r2" | "b2"),
      storageClass: c.storageClass,
      storageClasses: c.storageClasses,
      window,
      restoreBytesPerSecond: c.restoreBytesPerSecond,
    });
  }
  if (options.json) {
    const byUuid = new Map(result.backups.map((b) => [b.uuid, b]));
    const json = {
      snapshots: result.snapshots.map((s) => s.ctime)
        .sort(Temporal.Instant.compare).map(iso),
      backups: [...result.backups]
        .sort((a, b) =>
          Temporal.Instant.compare(a.ctime, b.ctime) || a.ctransid - b.ctransid
        )
        .map((b) => {
          const parent = b.sendParentUuid === null
            ? null
            : byUuid.get(b.sendParentUuid);
          return {
            ctime: iso(b.ctime),
            parent: parent === null
              ? null
              : parent
              ? iso(parent.ctime)
              : `missing ${b.sendParentUuid}`,
          };
        }),
      history,
      ...(estimate ? { cost: _costJson(estimate, iso) } : {}),
      ...(costWarnings.length ? { warnings: costWarnings } : {}),
    };
    out.print(JSON.stringify(json));
    return;
  }
  const full = result.backups.filter((b) => b.sendParentUuid === null).length;
  const objects = result.backups.reduce((n, b) => n + b.keys.length, 0);
  out.print(renderPlan(result.finalPlan, { color: false }));
  out.print(
    `\n${result.runs} runs of "${options.policy}" from ${
      iso(options.start)
    } to ${
      iso(options.end)
    } every ${options.every.toString()} (${options.timeZone}):\n` +
      `${result.snapshots.length} snapshots, ${objects} backup objects (${full} full)`,
  );
  out.print("");
  out.print(renderHistory(history));
  if (estimate) {
    out.print("");
    out.print(renderCost(estimate, iso));
  }
  for (const w of [...result.warnings, ...costWarnings]) {
    out.print(`warning: ${w}`);
  }
}

/** The estimate as JSON: instants as ISO strings in the simulation's zone. */
function _costJson(
  c: CostEstimate,
  iso: (t: Temporal.Instant) => string,
): unknown {
  return {
    ...c,
    window: { ...c.window, start: iso(c.window.start), end: iso(c.window.end) },
    restore: c.restore ? { ...c.restore, ctime: iso(c.restore.ctime) } : null,
    worstRestore: c.worstRestore
      ? { ...c.worstRestore, ctime: iso(c.worstRestore.ctime) }
      : null,
  };
}
