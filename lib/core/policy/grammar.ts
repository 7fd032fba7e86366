/**
 * Preservation policy grammar: `[<n>y] [<n>q] [<n>m] [<n>w] [<n>d] [<n>h] [<n>M] [<n>s]`.
 *
 * @module
 */

import type { Unit } from "./vocabulary.ts";

/** A policy unit: years, quarters, months, weeks, days, hours, minutes (`M`), seconds. */
export type { Unit };

/** All units, coarsest first: the order they must appear in a policy string. */
export const UNITS: readonly Unit[] = ["y", "q", "m", "w", "d", "h", "M", "s"];

/** How each unit reads in a sentence ("2024 yearly"). */
export const UNIT_ADJECTIVES: Readonly<Record<Unit, string>> = {
  y: "yearly",
  q: "quarterly",
  m: "monthly",
  w: "weekly",
  d: "daily",
  h: "hourly",
  M: "minutely",
  s: "secondly",
};

/** The accepted form, quoted in every grammar error. */
export const POLICY_FORM =
  "[<n>y] [<n>q] [<n>m] [<n>w] [<n>d] [<n>h] [<n>M] [<n>s]";

/** A parsed preservation policy. */
export interface Policy {
  /** The text it was parsed from. */
  readonly text: string;
  /** How many intervals of each unit to preserve; 0 when absent. */
  readonly counts: Readonly<Record<Unit, number>>;
  /** Units with a count above 0, coarsest first. */
  readonly units: readonly Unit[];
}

/**
 * A policy string that does not follow the grammar. A `SyntaxError`, as
 * `JSON.parse` throws for bad JSON; the message quotes the policy and the
 * accepted form.
 */
export class PolicySyntaxError extends SyntaxError {
  /** The offending token (may be empty for a stray space). */
  readonly token: string;
  /** An error about `token` of `policy`, saying `problem`. */
  constructor(policy: string, token: string, problem: string) {
    super(
      `invalid preservation policy ${JSON.stringify(policy)}: ${problem}; ` +
        `expected ${POLICY_FORM} in this order, separated by single spaces, ` +
        `e.g. "1y 3m 30d 24h" (m = months, M = minutes)`,
    );
    this.name = "PolicySyntaxError";
    this.token = token;
  }
}

const _TOKEN = /^([0-9]+)([A-Za-z])$/;

/**
 * Parse a preservation policy string as btrfs2s3 does: groups `<n><unit>`
 * separated by single spaces, units in the fixed order `y q m w d h M s`,
 * case-sensitive; a trailing space and leading zeros are accepted; a count of
 * 0 equals omitting the unit; the empty string keeps only the most recent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy } from "./grammar.ts";
 * const p = parsePolicy("1y 3m 30d 24h");
 * assert.ok(p.counts.m === 3 && p.counts.M === 0);
 * assert.ok(p.units.join(",") === "y,m,d,h");
 * ```
 * @throws {PolicySyntaxError} naming the bad token.
 */
export function parsePolicy(text: string): Policy {
  const counts: Record<Unit, number> = {
    y: 0,
    q: 0,
    m: 0,
    w: 0,
    d: 0,
    h: 0,
    M: 0,
    s: 0,
  };
  if (typeof text !== "string") {
    throw new PolicySyntaxError(String(text), String(text), "not a string");
  }
  const body = text.endsWith(" ") ? text.slice(0, -1) : text;
  let lastIndex = -1;
  if (body !== "") {
    const tokens = body.split(" ");
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      if (token === "") {
        const where = i === 0 ? "leading space" : "more than one space";
        throw new PolicySyntaxError(text, token, `${where} is not allowed`);
      }
      const m = _TOKEN.exec(token);
      if (m === null) {
        throw new PolicySyntaxError(text, token, _describeBadToken(token));
      }
      const unit = m[2] as Unit;
      const index = UNITS.indexOf(unit);
      if (index < 0) {
        throw new PolicySyntaxError(
          text,
          token,
          `unknown unit "${unit}" in ${_q(token)} (units are case-sensitive)`,
        );
      }
      if (index === lastIndex) {
        throw new PolicySyntaxError(
          text,
          token,
          `unit "${unit}" appears twice (${_q(token)})`,
        );
      }
      if (index < lastIndex) {
        throw new PolicySyntaxError(
          text,
          token,
          `${_q(token)} is out of order: "${unit}" must come before "${
            UNITS[lastIndex]
          }"`,
        );
      }
      lastIndex = index;
      const n = Number(m[1]);
      // Counts beyond the safe range only mean "everything"; clamp, never lose precision silently.
      counts[unit] = Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
    }
  }
  return {
    text,
    counts,
    units: UNITS.filter((u) => counts[u] > 0),
  };
}

function _q(s: string): string {
  return JSON.stringify(s);
}

function _describeBadToken(token: string): string {
  if (/\t/.test(token)) return `tab in ${_q(token)} (use single spaces)`;
  if (token.startsWith("-")) return `negative count ${_q(token)}`;
  if (/^[0-9]+$/.test(token)) {
    return `${_q(token)} has no unit (write e.g. "${token}d", no space)`;
  }
  if (/^[A-Za-z]+$/.test(token)) {
    return `${_q(token)} has no count (write e.g. "1${token}", no space)`;
  }
  if (/^[0-9]+[A-Za-z][0-9]/.test(token)) {
    return `${_q(token)} joins several groups; separate them with spaces`;
  }
  return `${_q(token)} is not <count><unit>`;
}

/** The canonical text of a policy: units with a count, in order, single spaces. */
export function formatPolicy(policy: Policy): string {
  return policy.units.map((u) => `${policy.counts[u]}${u}`).join(" ");
}
