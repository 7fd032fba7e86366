/**
 * The `simulate` command's handler: its flags (policy, zone, schedule, and
 * the `--price` cost model) read into typed options, each bad value a usage
 * error naming the flag.
 *
 * @module
 */

import type { SimulateCostOptions } from "../commands/simulate.ts";
import type { Unit } from "../../core/policy/vocabulary.ts";
import type { Output } from "../output.ts";
import { type ParsedArgs, UsageError } from "./args.ts";
import { closestSpelling as closest } from "../config/suggest.ts";

/** `simulate`: checks the flags (bad ones are usage errors) and prints the simulation. */
export async function simulateHandler(
  args: ParsedArgs,
  out: Output,
): Promise<number> {
  const bad = (message: string): never => {
    throw new UsageError(message, "simulate");
  };
  const policy = args.string("policy")!;
  const timeZone = args.string("timezone")!;
  const { parsePolicy } = await import("../../core/policy/grammar.ts");
  const { Zone } = await import("../../core/zone.ts");
  try {
    parsePolicy(policy);
  } catch (e) {
    bad(`--policy: ${(e as Error).message}`);
  }
  try {
    Zone.get(timeZone);
  } catch (e) {
    bad(`--timezone: ${(e as Error).message}`);
  }
  const instant = (flag: "start" | "end"): Temporal.Instant => {
    const value = args.string(flag)!;
    try {
      return Temporal.Instant.from(value);
    } catch {
      return bad(
        `--${flag} ${
          JSON.stringify(value)
        } is not an ISO-8601 instant with offset, e.g. 2024-01-01T00:00:00-08:00`,
      );
    }
  };
  const start = instant("start");
  const end = instant("end");
  if (Temporal.Instant.compare(start, end) > 0) bad("--end is before --start");
  const { parseStep } = await import("../../core/policy/step.ts");
  const step = (flag: "every" | "window"): Temporal.Duration | undefined => {
    const text = args.string(flag);
    if (text === undefined) return undefined;
    const d = parseStep(text) ?? bad(
      `--${flag} ${
        JSON.stringify(text)
      } is neither a duration in policy units (1d, 6h, 30M, 10s, "1d 12h") nor an ISO-8601 duration (PT6H, P1D)`,
    );
    if (d.sign <= 0) bad(`--${flag} ${text} must be positive`);
    return d;
  };
  const every = step("every")!;
  const cost = await _simulateCost(args, policy, step("window"));
  const { simulateCommand } = await import("../commands/simulate.ts");
  try {
    simulateCommand({
      policy,
      timeZone,
      start,
      end,
      every,
      json: args.boolean("json"),
      cost,
    }, out);
  } catch (e) {
    // The schedule itself is the input: too many ticks is a bad argument.
    if (e instanceof RangeError) bad(e.message);
    throw e;
  }
  return 0;
}

const _COST_FLAGS = [
  "size",
  "change",
  "compression",
  "storage-class",
  "storage-classes",
  "window",
  "restore-rate",
] as const;

/** The options of `simulate --price`, checked; undefined without `--price`. */
async function _simulateCost(
  args: ParsedArgs,
  policy: string,
  window: Temporal.Duration | undefined,
): Promise<SimulateCostOptions | undefined> {
  const bad = (message: string): never => {
    throw new UsageError(message, "simulate");
  };
  const id = args.string("price");
  if (id === undefined) {
    const stray = _COST_FLAGS.find((f) => args.string(f) !== undefined);
    if (stray) bad(`--${stray} only applies with --price aws|r2|b2`);
    return undefined;
  }
  const { PRICE_TABLES, priceTable } = await import(
    "../../core/prices/prices.ts"
  );
  const prices = priceTable(id);
  if (!prices) {
    const ids = Object.keys(PRICE_TABLES);
    const guess = closest(id, ids);
    return bad(
      `--price ${JSON.stringify(id)} is not a known price list${
        guess ? ` (did you mean ${guess}?)` : ""
      }; use one of ${ids.join(", ")}`,
    );
  }
  const number = (
    flag: "size" | "change" | "compression",
    what: string,
    min: "positive" | "non-negative",
  ): number | undefined => {
    const text = args.string(flag);
    if (text === undefined) return undefined;
    const v = /^\s*[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?\s*$/i.test(text)
      ? Number(text)
      : NaN;
    if (!Number.isFinite(v) || v < 0 || (min === "positive" && v === 0)) {
      bad(
        `--${flag} ${JSON.stringify(text)} is not ${
          min === "positive" ? "a positive" : "a non-negative"
        } number (${what})`,
      );
    }
    return v;
  };
  const GiB = 2 ** 30;
  const size = number("size", "GiB", "positive");
  const change = number("change", "GiB per day", "non-negative");
  if (size === undefined || change === undefined) {
    return bad(
      "--price needs the source's size and daily change: --size GIB --change GIB_PER_DAY",
    );
  }
  const compression = number("compression", "a ratio, e.g. 2", "positive") ?? 1;
  const known = Object.keys(prices.storageClasses);
  const klass = (flag: string, name: string): string => {
    if (known.includes(name)) return name;
    const guess = closest(name, known);
    return bad(
      `${flag}: ${prices.title} has no storage class ${JSON.stringify(name)}${
        guess ? ` (did you mean ${guess}?)` : ""
      }; it has ${known.join(", ")}`,
    );
  };
  const scText = args.string("storage-class");
  const storageClass = scText === undefined
    ? undefined
    : klass("--storage-class", scText);
  let storageClasses: Partial<Record<Unit, string>> | undefined;
  const mapText = args.string("storage-classes");
  if (mapText !== undefined) {
    const { UNITS, parsePolicy } = await import("../../core/policy/grammar.ts");
    const used = parsePolicy(policy).units;
    storageClasses = {};
    for (const entry of mapText.split(/[,\s]+/).filter(Boolean)) {
      const m = /^([A-Za-z])=(.+)$/.exec(entry);
      if (!m || !(UNITS as readonly string[]).includes(m[1])) {
        bad(
          `--storage-classes: ${
            JSON.stringify(entry)
          } is not UNIT=CLASS with a policy unit (${
            UNITS.join(" ")
          }), e.g. y=DEEP_ARCHIVE,m=GLACIER`,
        );
      }
      const unit = m![1] as Unit;
      if (!used.includes(unit)) {
        bad(
          `--storage-classes: the policy ${
            JSON.stringify(policy)
          } has no unit ${unit}`,
        );
      }
      storageClasses[unit] = klass("--storage-classes", m![2]);
    }
  }
  const { parseRate, RATE_FORM } = await import("../../core/rate.ts");
  const rateText = args.string("restore-rate") ?? "100Mbit/s";
  const rate = parseRate(rateText) ??
    bad(`--restore-rate ${JSON.stringify(rateText)} is not ${RATE_FORM}`);
  return {
    prices,
    size: {
      sourceBytes: size * GiB,
      changeBytesPerDay: change * GiB,
      compression,
    },
    storageClass,
    storageClasses,
    window,
    restoreBytesPerSecond: rate,
  };
}
