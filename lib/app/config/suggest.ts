/**
 * The spelling suggester of unknown-field errors: "did you mean ...?".
 *
 * @module
 */

/** Edit distance between two words, letters compared without case. */
function _distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(
        row[j] + 1,
        row[j - 1] + 1,
        prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length];
}

/**
 * The allowed word closest to a misspelt one, if any is close enough: at most
 * two edits, or a third of the word's length, away; a word that starts the
 * other (`region` for `region_name`) counts as one edit.
 *
 * @param word What the user wrote.
 * @param allowed The words that would have been right.
 * @returns The suggestion, or undefined when none is close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closestSpelling } from "./suggest.ts";
 * assert.equal(closestSpelling("bukcet", ["bucket", "prefix"]), "bucket");
 * assert.equal(closestSpelling("colour", ["bucket", "prefix"]), undefined);
 * ```
 */
export function closestSpelling(
  word: string,
  allowed: readonly string[],
): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of allowed) {
    const other = candidate.toLowerCase();
    const d = other.startsWith(lower) || lower.startsWith(other)
      ? 1
      : _distance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, word.length / 3) ? best : undefined;
}
