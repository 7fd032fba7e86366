/**
 * A duration written in the policy's own units (`1d`, `6h`, `30M`, `10s`,
 * `1d 12h`) or as ISO-8601 (`PT6H`, `P1D`): the step of `simulate --every`
 * and the window of its cost estimate.
 *
 * @module
 */

import { parsePolicy } from "./grammar.ts";

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
    d = Temporal.Duration.from({
      years: c.y,
      months: 3 * c.q + c.m,
      weeks: c.w,
      days: c.d,
      hours: c.h,
      minutes: c.M,
      seconds: c.s,
    });
  }
  return d;
}
