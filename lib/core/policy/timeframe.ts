/**
 * How long a policy's timeframes last: the defaults of `status --max-age`
 * and `daemon --every` come from the finest one.
 *
 * @module
 */

import { parsePolicy } from "./grammar.ts";
import type { Unit } from "./vocabulary.ts";

const _HOUR = 3_600_000;
const _DAY = 24 * _HOUR;

/**
 * The longest a policy unit's interval can last, in ms: a day has 25 hours
 * on a DST day, a month 31 days, so a default derived from it never calls a
 * healthy schedule late.
 */
export const UNIT_MAX_MS: Readonly<Record<Unit, number>> = {
  y: 366 * _DAY,
  q: 92 * _DAY,
  m: 31 * _DAY,
  w: 7 * _DAY + _HOUR,
  d: 25 * _HOUR,
  h: _HOUR,
  M: 60_000,
  s: 1000,
};

/**
 * A policy unit's usual length, in ms: the daemon's default tick (a month
 * ticks every 30 days; ticking early costs nothing when nothing changed).
 */
export const UNIT_NOMINAL_MS: Readonly<Record<Unit, number>> = {
  y: 365 * _DAY,
  q: 91 * _DAY,
  m: 30 * _DAY,
  w: 7 * _DAY,
  d: _DAY,
  h: _HOUR,
  M: 60_000,
  s: 1000,
};

/**
 * The finest unit of a policy (`h` for `1y 3m 30d 24h`), or null for the
 * empty policy, which has none.
 *
 * @param policy A valid policy string.
 * @returns The finest unit present, or null.
 */
export function finestUnit(policy: string): Unit | null {
  const units = parsePolicy(policy).units;
  return units.length ? units[units.length - 1] : null;
}

/**
 * The length of the finest timeframe among policies, in ms (by default the
 * longest such an interval can last); `fallback` when no policy has a unit.
 *
 * @param policies Valid policy strings.
 * @param fallback Used when every policy is empty.
 * @param lengths Each unit's length ({@linkcode UNIT_MAX_MS} or {@linkcode UNIT_NOMINAL_MS}).
 * @returns Milliseconds.
 */
export function finestTimeframeMs(
  policies: readonly string[],
  fallback: number = _DAY,
  lengths: Readonly<Record<Unit, number>> = UNIT_MAX_MS,
): number {
  let best: number | null = null;
  for (const p of policies) {
    const u = finestUnit(p);
    if (u === null) continue;
    const ms = lengths[u];
    if (best === null || ms < best) best = ms;
  }
  return best ?? fallback;
}
