/**
 * `snap2s3 simulate`: replay a policy over a schedule and print the final
 * tree of snapshots and backups.
 *
 * @module
 */

import { Zone } from "../../core/zone.ts";
import { renderPlan } from "../../core/plan/preview.ts";
import { simulate } from "../../core/plan/simulate.ts";
import type { Output } from "../output.ts";

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
}

/**
 * Runs the simulation and prints the final tree (or, with `json`,
 * `{"snapshots": [...], "backups": [{"ctime", "parent"}]}`) with `out.print`.
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
  const result = simulate(options);
  const zone = Zone.get(options.timeZone);
  const iso = (t: Temporal.Instant): string =>
    zone.formatIso(t.epochMilliseconds);
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
  for (const w of result.warnings) out.print(`warning: ${w}`);
}
