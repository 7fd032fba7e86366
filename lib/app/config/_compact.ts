/**
 * Copies `obj` without its undefined fields, so data built by a helper (or
 * mapped from YAML) equals the same data written by hand.
 *
 * @param obj Any plain object.
 * @returns A shallow copy without the fields whose value is `undefined`.
 */
export function compact<T extends object>(obj: T): T {
  return Object.fromEntries(
    Object.entries(obj).filter(([, v]) => v !== undefined),
  ) as T;
}
