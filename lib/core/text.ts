/**
 * Small string helpers the pure tiers share: a code-unit order for stable
 * sorting, and the last segment of a path.
 *
 * @module
 */

/**
 * Orders strings by UTF-16 code unit (not locale), so sorts are the same on
 * every machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareStrings } from "./text.ts";
 * assert.deepEqual(["b", "B", "a"].sort(compareStrings), ["B", "a", "b"]);
 * ```
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The last segment of a `/`-separated path: a snapshot's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { baseName } from "./text.ts";
 * assert.equal(baseName("/snaps/home.1"), "home.1");
 * ```
 */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
