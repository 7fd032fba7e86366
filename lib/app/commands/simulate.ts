/**
 * `snap2s3 simulate`: replay a policy over a schedule and print the final
 * tree of snapshots and backups.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parsePolicy } from "../../core/policy/grammar.ts";
import { Zone } from "../../core/zone.ts";
import { renderPlan } from "../../core/plan/preview.ts";
import { simulate } from "../../core/plan/simulate.ts";

const _USAGE =
  "usage: snap2s3 simulate --policy P --timezone TZ --start ISO --end ISO --every DURATION [--json]\n" +
  '  --policy    preservation policy, e.g. "1y 3m 30d 24h" ("" keeps only the most recent)\n' +
  "  --timezone  IANA time zone, e.g. America/Los_Angeles or UTC\n" +
  "  --start     first run, ISO-8601 instant with offset, e.g. 2024-01-01T00:00:00-08:00\n" +
  "  --end       last run (inclusive), same form\n" +
  "  --every     ISO-8601 duration between runs on the wall clock, e.g. PT6H, P1D\n" +
  '  --json      print {"snapshots": [...], "backups": [{"ctime", "parent"}]}';

class _UsageError extends Error {}

/**
 * Run `snap2s3 simulate` with its arguments (without the command name).
 * Writes the result with `out`, errors with `err`; returns the exit code
 * (0 ok, 2 bad arguments).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { simulateCommand } from "./simulate.ts";
 * let text = "";
 * const code = await simulateCommand([
 *   "--policy", "2d", "--timezone", "UTC", "--start", "2024-01-01T00:00:00Z",
 *   "--end", "2024-01-02T00:00:00Z", "--every", "PT12H", "--json",
 * ], (s) => text += s);
 * assert.ok(code === 0 && JSON.parse(text).snapshots.length === 2);
 * ```
 */
export function simulateCommand(
  args: string[],
  out: (s: string) => void = (s) => Deno.stdout.writeSync(_enc.encode(s)),
  err: (s: string) => void = (s) => Deno.stderr.writeSync(_enc.encode(s)),
): Promise<number> {
  let opts;
  try {
    opts = _parse(args);
  } catch (e) {
    if (e instanceof _UsageError) {
      err(`snap2s3 simulate: ${e.message}\n${_USAGE}\n`);
      return Promise.resolve(2);
    }
    throw e;
  }
  if (opts === "help") {
    out(`${_USAGE}\n`);
    return Promise.resolve(0);
  }
  let result;
  try {
    result = simulate(opts);
  } catch (e) {
    if (e instanceof RangeError) {
      err(`snap2s3 simulate: ${e.message}\n`);
      return Promise.resolve(2);
    }
    throw e;
  }
  const zone = Zone.get(opts.timeZone);
  const iso = (t: Temporal.Instant): string =>
    zone.formatIso(t.epochMilliseconds);
  if (opts.json) {
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
    out(`${JSON.stringify(json)}\n`);
    return Promise.resolve(0);
  }
  const full = result.backups.filter((b) => b.sendParentUuid === null).length;
  const objects = result.backups.reduce((n, b) => n + b.keys.length, 0);
  out(renderPlan(result.finalPlan, { color: false }));
  out(
    `\n${result.runs} runs of "${opts.policy}" from ${iso(opts.start)} to ${
      iso(opts.end)
    } every ${opts.every.toString()} (${opts.timeZone}):\n` +
      `${result.snapshots.length} snapshots, ${objects} backup objects (${full} full)\n`,
  );
  for (const w of result.warnings) out(`warning: ${w}\n`);
  return Promise.resolve(0);
}

const _enc = new TextEncoder();

function _parse(args: string[]):
  | "help"
  | {
    policy: string;
    timeZone: string;
    start: Temporal.Instant;
    end: Temporal.Instant;
    every: Temporal.Duration;
    json: boolean;
  } {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        policy: { type: "string" },
        timezone: { type: "string" },
        start: { type: "string" },
        end: { type: "string" },
        every: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new _UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) return "help";
  for (const flag of ["policy", "timezone", "start", "end", "every"] as const) {
    if (values[flag] === undefined) {
      throw new _UsageError(`missing --${flag}`);
    }
  }
  try {
    parsePolicy(values.policy!);
  } catch (e) {
    throw new _UsageError(`--policy: ${(e as Error).message}`);
  }
  try {
    Zone.get(values.timezone!);
  } catch (e) {
    throw new _UsageError(`--timezone: ${(e as Error).message}`);
  }
  const instant = (flag: "start" | "end"): Temporal.Instant => {
    try {
      return Temporal.Instant.from(values[flag]!);
    } catch {
      throw new _UsageError(
        `--${flag} ${
          JSON.stringify(values[flag])
        } is not an ISO-8601 instant with offset, e.g. 2024-01-01T00:00:00-08:00`,
      );
    }
  };
  const start = instant("start");
  const end = instant("end");
  if (Temporal.Instant.compare(start, end) > 0) {
    throw new _UsageError("--end is before --start");
  }
  let every: Temporal.Duration;
  try {
    every = Temporal.Duration.from(values.every!);
  } catch {
    throw new _UsageError(
      `--every ${
        JSON.stringify(values.every)
      } is not an ISO-8601 duration, e.g. PT6H or P1D`,
    );
  }
  if (every.sign <= 0) {
    throw new _UsageError(`--every ${values.every} must be positive`);
  }
  return {
    policy: values.policy!,
    timeZone: values.timezone!,
    start,
    end,
    every,
    json: values.json!,
  };
}
