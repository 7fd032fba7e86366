/** Duration flags (`--max-age`, `--every`) and the policy timeframe defaults. */
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../lib/core/duration.ts";
import { finestTimeframeMs } from "../lib/core/policy/timeframe.ts";

Deno.test("durations read units and ISO-8601, and round-trip through formatDuration", () => {
  const cases: [string, number][] = [
    ["3s", 3000],
    ["500ms", 500],
    ["15m", 15 * 60_000],
    ["1h30m", 90 * 60_000],
    ["2d", 2 * 86_400_000],
    ["1w", 7 * 86_400_000],
    ["PT6H", 6 * 3_600_000],
    ["P1DT1S", 86_401_000],
  ];
  for (const [text, ms] of cases) {
    assert.equal(parseDuration(text), ms, text);
    assert.equal(parseDuration(formatDuration(ms)), ms, text);
  }
});

Deno.test("a bad duration names the accepted forms", () => {
  for (const bad of ["", "3", "soon", "1y", "0s", "P1M", "-3s", "3 s"]) {
    assert.throws(() => parseDuration(bad), (e: unknown) => {
      assert.ok(e instanceof RangeError, bad);
      assert.match(e.message, /is not a duration .*m = minutes/);
      return true;
    });
  }
});

Deno.test("the finest timeframe is the finest unit of any policy, a day for none", () => {
  assert.equal(finestTimeframeMs(["1y 3m 30d 24h"]), 3_600_000);
  assert.equal(finestTimeframeMs(["1y 1d", "1y 2s"]), 1000);
  assert.equal(finestTimeframeMs(["1y 1d"]), 25 * 3_600_000);
  assert.equal(finestTimeframeMs([""]), 86_400_000);
});
