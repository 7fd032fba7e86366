/**
 * "Did you mean": the closest of a few known words to a misspelt one, for
 * messages about unknown commands, flags, fields and ids.
 *
 * @module
 */

/** Edit distance (insert, delete, substitute; case-insensitive). */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const same = x[i - 1] === y[j - 1];
      cur[j] = Math.min(
        prev[j] + 1,
        cur[j - 1] + 1,
        prev[j - 1] + (same ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[y.length];
}

/**
 * The candidate closest to `word`, or undefined when none is close: within
 * two edits, or a third of the word's length when that is more. A candidate
 * that starts with the word, or that the word starts with, counts as one edit
 * away ("region" for "region_name", "list" for "list-backups").
 *
 * @param word What was typed.
 * @param candidates The words that would have been understood.
 * @returns The closest candidate, if any is close enough.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closest } from "./spelling.ts";
 * assert.equal(closest("updat", ["update", "restore"]), "update");
 * assert.equal(closest("frobnicate", ["update", "restore"]), undefined);
 * ```
 */
export function closest(
  word: string,
  candidates: Iterable<string>,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const d = w.length > 0 && (lc.startsWith(w) || w.startsWith(lc))
      ? 1
      : editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, word.length / 3) ? best : undefined;
}
