/**
 * The error of a config that fails validation, and its problems.
 *
 * @module
 */

/** One thing wrong with a config: where, and what to do about it. */
export interface ConfigProblem {
  /** Path of the bad field, e.g. `["sources", 0, "upload", 1, "preserve"]`; `[]` for the file itself. */
  path: (string | number)[];
  /** What is wrong and how to fix it. */
  message: string;
}

/**
 * Renders a field path the way users write it: `sources[0].upload[1].preserve`
 * (`""` for the root).
 *
 * @param path The path, as in {@linkcode ConfigProblem.path}.
 * @returns The path in JavaScript notation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatConfigPath } from "./error.ts";
 * assert.equal(formatConfigPath(["sources", 0, "upload"]), "sources[0].upload");
 * ```
 */
export function formatConfigPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) {
      out += out === "" ? part : `.${part}`;
    } else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/**
 * A config that fails validation, or a config file that cannot be read. The
 * CLI exits with code 2 on it. `message` has one line per problem,
 * `<file>: <field path>: <problem and fix>` (the file when the config came
 * from one, the path unless the problem is the file itself); `problems` has
 * the same as data, for callers that show them their own way.
 *
 * @example Catch a bad config and list its problems
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, validateConfig } from "../../../mod.ts";
 *
 * try {
 *   validateConfig({ timezone: "UTC", sources: [], remotes: [] });
 *   assert.fail("not refused");
 * } catch (e) {
 *   assert.ok(e instanceof ConfigError);
 *   assert.deepEqual(e.problems.map((p) => p.path), [["remotes"]]);
 *   assert.match(e.message, /^remotes: must list at least one remote/);
 * }
 * ```
 */
export class ConfigError extends Error {
  /** The problems, in the order found (at least one). */
  readonly problems: ConfigProblem[];
  /** The config file, when the config came from one. */
  readonly file?: string;

  /**
   * Builds the error; `message` has one line per problem.
   *
   * @param problems What is wrong (at least one).
   * @param file The config file, prefixed to every line of the message.
   */
  constructor(problems: ConfigProblem[], file?: string) {
    const lines = problems.map((p) =>
      [file, formatConfigPath(p.path), p.message].filter(Boolean).join(": ")
    );
    super(lines.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
    this.file = file;
  }
}
