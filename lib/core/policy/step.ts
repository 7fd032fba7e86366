/**
 * A duration written in the policy's own units (`1d`, `6h`, `30M`, `10s`,
 * `1d 12h`) or as ISO-8601 (`PT6H`, `P1D`): the step of `simulate --every`
 * and the window of its cost estimate.
 *
 * @module
 */

import { parsePolicy } from "./grammar.ts";
import type { Unit } from "./vocabulary.ts";

/**
 * Reads a wall-clock duration: policy units (`y q m w d h M s`, the grammar
 * of a policy; `q` is three months) or an ISO-8601 duration.
 *
 * @param text What the user wrote.
 * @returns The duration (check its sign), or null when it is neither form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStep } from "./step.ts";
 * assert.equal(parseStep("6h")?.toString(), "PT6H");
 * assert.equal(parseStep("1q 2d")?.toString(), "P3M2D");
 * assert.equal(parseStep("30M")?.toString(), "PT30M");
 * assert.equal(parseStep("P1D")?.toString(), "P1D");
 * assert.equal(parseStep("0d")?.sign, 0);
 * assert.equal(parseStep("6x"), null);
 * ```
 */
export function parseStep(text: string): Temporal.Duration | null {
  let d: Temporal.Duration;
  if (/^[+-]?P/i.test(text)) {
    try {
      d = Temporal.Duration.from(text);
    } catch {
      return null;
    }
  } else {
    if (text.trim() === "") return null;
    let c;
    try {
      c = parsePolicy(text).counts;
    } catch {
      return null;
    }
    d = unitsDuration(c);
  }
  return d;
}

/**
 * A wall-clock duration of so many of each policy unit (`q` is three months).
 *
 * @param counts How many of each unit; a missing unit is none.
 * @returns The duration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitsDuration } from "./step.ts";
 * assert.equal(unitsDuration({ q: 2 }).toString(), "P6M");
 * assert.equal(unitsDuration({ d: 1, M: 30 }).toString(), "P1DT30M");
 * ```
 */
export function unitsDuration(
  counts: Readonly<Partial<Record<Unit, number>>>,
): Temporal.Duration {
  const n = (u: Unit) => counts[u] ?? 0;
  return Temporal.Duration.from({
    years: n("y"),
    months: 3 * n("q") + n("m"),
    weeks: n("w"),
    days: n("d"),
    hours: n("h"),
    minutes: n("M"),
    seconds: n("s"),
  });
}
