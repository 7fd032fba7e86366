/**
 * Confirmation that stays true: a plan confirmed after a long wait is made
 * again from a fresh inventory, and shown and asked again when it changed,
 * so nothing is deleted on the strength of an answer to an old plan.
 *
 * @module
 */

import { PENDING_UUID, type Plan } from "./plan.ts";

/** How long a confirmation may take before the plan is made again. */
export const CONFIRM_FRESH_MS = 60_000;

/** Options of {@link confirmFresh}. */
export interface ConfirmFreshOptions {
  /** Asks the user; true carries the plan out. */
  confirm: (plan: Plan) => Promise<boolean>;
  /** Makes the plan again from a fresh inventory. */
  replan: () => Promise<Plan>;
  /** Shows a plan that changed while the user was deciding. */
  showChanged: (plan: Plan) => void;
  /** The clock that measures the wait. */
  clock: () => Temporal.Instant;
  /** Longest wait that needs no new plan (default {@link CONFIRM_FRESH_MS}). */
  maxWaitMs?: number;
}

/**
 * Asks to confirm `first`. When the answer took longer than `maxWaitMs`, plans
 * again; an unchanged plan is returned (the fresh one), a changed one is shown
 * and asked about again.
 *
 * @returns The plan to carry out, or null when the user said no.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confirmFresh } from "./confirm.ts";
 * const p = { timeZone: "UTC", now: Temporal.Instant.from("2024-05-01T12:00:00Z"), sources: [] };
 * let t = 0;
 * const got = await confirmFresh(p, {
 *   confirm: () => { t += 120_000; return Promise.resolve(true); },
 *   replan: () => Promise.resolve(p),
 *   showChanged: () => assert.fail("unchanged"),
 *   clock: () => Temporal.Instant.fromEpochMilliseconds(t),
 * });
 * assert.equal(got, p);
 * ```
 */
export async function confirmFresh(
  first: Plan,
  options: ConfirmFreshOptions,
): Promise<Plan | null> {
  const maxWait = options.maxWaitMs ?? CONFIRM_FRESH_MS;
  let current = first;
  for (;;) {
    const asked = options.clock().epochMilliseconds;
    if (!await options.confirm(current)) return null;
    if (options.clock().epochMilliseconds - asked <= maxWait) return current;
    const fresh = await options.replan();
    if (sameActions(current, fresh)) return fresh;
    options.showChanged(fresh);
    current = fresh;
  }
}

/**
 * Whether two plans do the same things: the same renames, uploads (remote,
 * key, parent), destroys and deletes, and a snapshot to create in both or
 * neither. The snapshot to create is compared by presence only: the executor
 * names it by what it holds when it is made, so a write in between does not
 * change what the user agreed to.
 */
export function sameActions(a: Plan, b: Plan): boolean {
  return JSON.stringify(_actions(a)) === JSON.stringify(_actions(b));
}

function _actions(p: Plan): unknown {
  return p.sources.map((s) => ({
    path: s.path,
    create: s.createSnapshot !== null,
    renames: s.renames.map((r) => [r.uuid, r.from, r.to]),
    uploads: s.uploads.map((u) => [
      u.remoteId,
      u.snapshot.uuid === PENDING_UUID ? PENDING_UUID : u.key,
      u.parent?.uuid ?? null,
    ]),
    destroys: s.destroys.map((d) => [d.uuid, d.path]),
    deletes: s.deletes.map((d) => [d.remoteId, ...d.backup.keys]),
  }));
}
