import assert from "node:assert/strict";
import {
  formatPolicy,
  parsePolicy,
  POLICY_FORM,
  PolicySyntaxError,
} from "../lib/core/policy/grammar.ts";

Deno.test("a full policy parses into counts per unit, months and minutes apart", () => {
  const p = parsePolicy("1y 2q 3m 4w 5d 6h 7M 8s");
  assert.deepEqual(p.counts, {
    y: 1,
    q: 2,
    m: 3,
    w: 4,
    d: 5,
    h: 6,
    M: 7,
    s: 8,
  });
  assert.deepEqual(p.units, ["y", "q", "m", "w", "d", "h", "M", "s"]);
});

Deno.test("the README policy parses with units in order and absent ones at zero", () => {
  const p = parsePolicy("1y 3m 30d 24h");
  assert.deepEqual(p.units, ["y", "m", "d", "h"]);
  assert.equal(p.counts.q, 0);
  assert.equal(p.counts.M, 0);
  assert.equal(formatPolicy(p), "1y 3m 30d 24h");
});

Deno.test("a trailing space, leading zeros and zero counts are accepted", () => {
  assert.deepEqual(parsePolicy("1y ").units, ["y"]);
  assert.equal(parsePolicy("01y").counts.y, 1);
  const p = parsePolicy("0y 2d");
  assert.deepEqual(p.units, ["d"]);
  assert.equal(p.counts.y, 0);
});

Deno.test("the empty string is a valid policy with no units", () => {
  assert.deepEqual(parsePolicy("").units, []);
  assert.deepEqual(parsePolicy(" ").units, []);
});

Deno.test("each rejected form names its bad token and shows the accepted form", () => {
  const cases: [string, string][] = [
    ["1y1m", "1y1m"],
    [" 1y", ""],
    ["1m 1y", "1y"],
    ["1Y", "1Y"],
    ["1y 1y", "1y"],
    ["1 y", "1"],
    ["1y\t1m", "1y\t1m"],
    ["-1y", "-1y"],
    ["1y  1m", ""],
    ["1y  ", ""],
    ["y", "y"],
    ["1x", "1x"],
    ["1.5d", "1.5d"],
  ];
  for (const [text, token] of cases) {
    assert.throws(
      () => parsePolicy(text),
      (e: unknown) => {
        assert.ok(
          e instanceof PolicySyntaxError,
          `${JSON.stringify(text)} threw ${e}`,
        );
        assert.equal(e.token, token, `token of ${JSON.stringify(text)}`);
        assert.ok(e.message.includes(POLICY_FORM), e.message);
        if (token !== "") {
          assert.ok(e.message.includes(JSON.stringify(token)), e.message);
        }
        return true;
      },
      `${JSON.stringify(text)} must be rejected`,
    );
  }
});

Deno.test("error messages say what is wrong in words", () => {
  const message = (t: string): string => {
    try {
      parsePolicy(t);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`accepted ${t}`);
  };
  assert.match(message("1m 1y"), /out of order/);
  assert.match(message("1y 1y"), /twice/);
  assert.match(message(" 1y"), /leading space/);
  assert.match(message("1Y"), /unknown unit "Y"/);
  assert.match(message("-1y"), /negative/);
  assert.match(message("1y1m"), /separate them with spaces/);
});

Deno.test("a policy syntax error is a SyntaxError with its own name and token", () => {
  assert.throws(
    () => parsePolicy("1m 1y"),
    (e: unknown) => {
      assert.ok(e instanceof SyntaxError);
      assert.ok(e instanceof PolicySyntaxError);
      assert.equal(e.name, "PolicySyntaxError");
      assert.equal(e.token, "1y");
      return true;
    },
  );
});
