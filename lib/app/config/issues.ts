/**
 * zod issues turned into {@linkcode ConfigProblem}s with readable messages:
 * what was expected, what was found (never the value of a credential), and
 * for an unknown field the allowed ones and the closest spelling.
 *
 * @module
 */

import { z } from "./_zod.ts";
import type { ConfigProblem } from "./error.ts";
import { closestSpelling } from "./suggest.ts";

/** Marks the JSON payload we put in unrecognized-key messages (see `strictConfigObject`). */
const _KEYS_MARK = "snap2s3-allowed-keys:";

/**
 * A strict object: an unknown field is an error. The allowed keys travel in
 * the issue message so {@linkcode issuesToProblems} can suggest the right
 * spelling. Internal to lib/app/config (the YAML schema uses it too).
 *
 * @param shape The fields.
 * @returns A zod object schema that rejects unknown fields.
 */
// deno-lint-ignore explicit-module-boundary-types
export function strictConfigObject<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? _KEYS_MARK + JSON.stringify(allowed)
        : undefined,
  });
}

/**
 * The value at `path` in raw data, or undefined where the path leads nowhere.
 * Internal to lib/app/config.
 *
 * @param data Any value.
 * @param path Object keys and array indices.
 * @returns What is there.
 */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Fields whose values are secrets: errors say what type they have, never what they are. */
const _CREDENTIALS = new Set(["accessKeyId", "secretAccessKey"]);

/** What a credential's value is shown as. */
const _HIDDEN = "(value not shown: it is a credential)";

function _describe(value: unknown, secret: boolean): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (secret) {
    return `${
      typeof value === "number" ? "a number" : `a ${typeof value}`
    } ${_HIDDEN}`;
  }
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

/** `message` with every copy of a secret `value` blanked out (belt and braces for messages zod writes). */
function _redact(message: string, value: unknown): string {
  if (typeof value !== "string" && typeof value !== "number") return message;
  const text = String(value);
  return text.length < 4 ? message : message.replaceAll(text, _HIDDEN);
}

const _EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "an object",
};

function _unknownKeys(
  iss: z.core.$ZodIssueUnrecognizedKeys,
  path: (string | number)[],
): ConfigProblem[] {
  const allowed: string[] = iss.message.startsWith(_KEYS_MARK)
    ? JSON.parse(iss.message.slice(_KEYS_MARK.length))
    : [];
  return iss.keys.map((key) => {
    const best = closestSpelling(key, allowed);
    const hint = best === undefined ? "" : ` (did you mean "${best}"?)`;
    return {
      path: [...path, key],
      message: `unknown field${hint}; allowed: ${allowed.join(", ")}`,
    };
  });
}

function _message(
  iss: z.core.$ZodIssue,
  value: unknown,
  secret: boolean,
): string {
  switch (iss.code) {
    case "invalid_type": {
      if (!iss.message.startsWith("Invalid input")) return iss.message;
      const expected = _EXPECTED[iss.expected] ?? iss.expected;
      return value === undefined
        ? `required (${expected})`
        : `expected ${expected}, got ${_describe(value, secret)}`;
    }
    case "invalid_union": {
      const kinds = (iss as { options?: unknown[] }).options;
      if (!("discriminator" in iss) || kinds === undefined) return iss.message;
      const list = kinds.map((k) => JSON.stringify(String(k))).join(", ");
      return value === undefined
        ? `required: one of ${list}`
        : `unknown kind ${JSON.stringify(value)}; expected one of ${list}`;
    }
    case "invalid_value":
      return `expected ${
        iss.values.map((v) => JSON.stringify(v)).join(" or ")
      }, got ${_describe(value, secret)}`;
    default:
      return iss.message;
  }
}

/**
 * Turns zod issues into problems with readable messages. Internal to
 * lib/app/config.
 *
 * @param issues The issues of a failed parse.
 * @param data The data that was parsed, to show bad values.
 * @returns One problem per bad field.
 */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const iss of issues) {
    const path = iss.path.map((p) => typeof p === "symbol" ? String(p) : p);
    if (iss.code === "unrecognized_keys") {
      out.push(..._unknownKeys(iss, path));
      continue;
    }
    const value = valueAt(data, path);
    const secret = _CREDENTIALS.has(String(path.at(-1)));
    const message = _message(iss, value, secret);
    out.push({ path, message: secret ? _redact(message, value) : message });
  }
  return out;
}
