/**
 * The one argument parser: reads a command line against the table in
 * `commands_table.ts`. Messages name the flag or argument and the fix, and
 * suggest the closest known name for a misspelt one.
 *
 * @module
 */

import { closestSpelling as closest } from "../config/suggest.ts";
import {
  COMMANDS,
  type CommandSpec,
  type FlagSpec,
  HELP_FLAG,
} from "./commands_table.ts";

/** A bad command line: exit code 2. */
export class UsageError extends Error {
  /** The command the message is about, when there is one (its `--help` is suggested). */
  readonly command?: string;

  /**
   * @param message What is wrong and how to fix it, one line.
   * @param command The command the message is about.
   */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

type _Value = boolean | string | string[];

/** A command line read against one command's spec. */
export class ParsedArgs {
  /** The command. */
  readonly command: CommandSpec;
  readonly #positionals: Map<string, string>;
  readonly #flags: Map<string, _Value>;

  /**
   * @param command The command.
   * @param positionals Positional values by name.
   * @param flags Flag values by long name.
   */
  constructor(
    command: CommandSpec,
    positionals: Map<string, string>,
    flags: Map<string, _Value>,
  ) {
    this.command = command;
    this.#positionals = positionals;
    this.#flags = flags;
  }

  /** A positional argument (undefined only for an optional one left out). */
  positional(name: string): string | undefined {
    this.#known(
      [
        ...this.command.positionals,
        ...(this.command.forms ?? []).flatMap((f) => f.positionals),
      ],
      name,
      "argument",
    );
    return this.#positionals.get(name);
  }

  /** A positional argument that is not optional. */
  required(name: string): string {
    const v = this.positional(name);
    if (v === undefined) throw new Error(`internal: <${name}> is optional`);
    return v;
  }

  /** Whether a flag was given (false for a flag the command does not have). */
  given(name: string): boolean {
    return this.#flags.has(name);
  }

  /** Whether a boolean flag was given. */
  boolean(name: string): boolean {
    this.#flag(name, "boolean");
    return this.#flags.get(name) === true;
  }

  /** A string flag's value. */
  string(name: string): string | undefined {
    this.#flag(name, "string");
    return this.#flags.get(name) as string | undefined;
  }

  /** An optional-value flag: its `=VALUE`, true when given bare, undefined when absent. */
  optional(name: string): string | true | undefined {
    this.#flag(name, "optional");
    return this.#flags.get(name) as string | true | undefined;
  }

  /** Every value of a repeatable flag, in order. */
  strings(name: string): string[] {
    this.#flag(name, "strings");
    return (this.#flags.get(name) as string[] | undefined) ?? [];
  }

  #flag(name: string, kind: FlagSpec["kind"]): void {
    const spec = this.command.flags.find((f) => f.name === name);
    if (!spec || spec.kind !== kind) {
      throw new Error(
        `internal: ${this.command.name} has no ${kind} flag --${name}`,
      );
    }
  }

  #known(list: readonly { name: string }[], name: string, what: string): void {
    if (!list.some((p) => p.name === name)) {
      throw new Error(`internal: ${this.command.name} has no ${what} ${name}`);
    }
  }
}

/** What a command line asks for. */
export type CommandLine =
  | { readonly kind: "usage" }
  | { readonly kind: "version" }
  | { readonly kind: "help"; readonly command?: CommandSpec }
  | { readonly kind: "run"; readonly args: ParsedArgs };

/** The command with this name, or a usage error suggesting the closest one. */
export function findCommand(name: string): CommandSpec {
  const found = COMMANDS.find((c) => c.name === name);
  if (found) return found;
  const guess = closest(name, COMMANDS.map((c) => c.name));
  throw new UsageError(
    `unknown command ${JSON.stringify(name)}${
      guess ? ` (did you mean ${guess}?)` : ""
    }; see snap2s3 --help`,
  );
}

/**
 * Reads a whole command line (without the program name).
 *
 * @param argv The arguments.
 * @returns What to do.
 * @throws {UsageError} On anything the table does not allow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandLine } from "./args.ts";
 * const line = parseCommandLine(["update", "--force", "policy.ts"]);
 * assert.ok(line.kind === "run" && line.args.boolean("force"));
 * assert.equal(parseCommandLine(["update", "--help"]).kind, "help");
 * ```
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) return { kind: "usage" };
  if (first === "--help" || first === "-h") return { kind: "help" };
  if (first === "--version") return { kind: "version" };
  if (first.startsWith("-")) {
    const guess = closest(first.replace(/^-+/, ""), ["help", "version"]);
    throw new UsageError(
      `unknown flag ${JSON.stringify(first)}${
        guess ? ` (did you mean --${guess}?)` : ""
      }; a command comes first, see snap2s3 --help`,
    );
  }
  const command = findCommand(first);
  const args = parseArgs(command, rest);
  if (args === "help") return { kind: "help", command };
  if (command.name === "help") {
    const topic = args.positional("command");
    return topic === undefined
      ? { kind: "help" }
      : { kind: "help", command: findCommand(topic) };
  }
  if (command.name === "version") return { kind: "version" };
  return { kind: "run", args };
}

/**
 * Reads one command's arguments.
 *
 * @param command The command's spec.
 * @param argv The arguments after the command name.
 * @returns The values, or `"help"` when `--help` was given.
 * @throws {UsageError} On an unknown or misused flag, a missing required
 *   flag, or too few or too many arguments.
 */
export function parseArgs(
  command: CommandSpec,
  argv: readonly string[],
): ParsedArgs | "help" {
  const flags = [...command.flags, HELP_FLAG];
  const values = new Map<string, _Value>();
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(message, command.name);
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq >= 0 ? token.slice(0, eq) : token;
    const spec = _lookup(flags, name);
    if (!spec) {
      const guess = closest(
        name.replace(/^-+/, ""),
        flags.map((f) => f.name),
      );
      fail(
        `unknown flag ${name}${guess ? ` (did you mean --${guess}?)` : ""}`,
      );
      continue;
    }
    if (spec.kind === "boolean") {
      if (eq >= 0) fail(`--${spec.name} takes no value`);
      values.set(spec.name, true);
      continue;
    }
    if (spec.kind === "optional") {
      if (values.has(spec.name)) fail(`--${spec.name} is given twice`);
      if (eq >= 0 && eq === token.length - 1) {
        fail(`--${spec.name}= needs a value: --${spec.name}=${spec.value}`);
      }
      values.set(spec.name, eq >= 0 ? token.slice(eq + 1) : true);
      continue;
    }
    let value: string;
    if (eq >= 0) value = token.slice(eq + 1);
    else if (i + 1 < argv.length && !_isFlag(argv[i + 1], flags)) {
      value = argv[++i];
    } else {
      value = fail(
        `--${spec.name} needs a value: --${spec.name} ${spec.value}`,
      );
    }
    if (spec.kind === "strings") {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      values.set(spec.name, [...list, value]);
    } else {
      if (values.has(spec.name)) {
        fail(`--${spec.name} is given twice`);
      }
      values.set(spec.name, value);
    }
  }
  if (values.get("help") === true) return "help";
  const form = command.forms?.find((f) => f.when.some((w) => values.has(w)));
  const specs = form?.positionals ?? command.positionals;
  const named = new Map<string, string>();
  specs.forEach((p, i) => {
    if (i < positionals.length) named.set(p.name, positionals[i]);
    else if (!p.optional) fail(`missing <${p.name}>`);
  });
  if (positionals.length > specs.length) {
    const extra = positionals[specs.length];
    const using = form ? ` with --${form.when.find((w) => values.has(w))}` : "";
    fail(
      `unexpected argument ${JSON.stringify(extra)}${
        specs.length
          ? `; it takes ${specs.map((p) => _shown(p)).join(" ")}${using}`
          : `; it takes flags only${using}`
      }`,
    );
  }
  for (const f of command.flags) {
    if (f.required && !values.has(f.name)) {
      fail(`missing --${f.name} ${f.value}`);
    }
  }
  return new ParsedArgs(command, named, values);
}

function _shown(p: { name: string; optional?: boolean }): string {
  return p.optional ? `[${p.name}]` : `<${p.name}>`;
}

function _lookup(
  flags: readonly FlagSpec[],
  name: string,
): FlagSpec | undefined {
  if (name.startsWith("--")) return flags.find((f) => f.name === name.slice(2));
  if (/^-[^-]$/.test(name)) return flags.find((f) => f.short === name[1]);
  return undefined;
}

/** A known flag (so it is not taken as the previous flag's value). */
function _isFlag(token: string, flags: readonly FlagSpec[]): boolean {
  const eq = token.indexOf("=");
  return _lookup(flags, eq >= 0 ? token.slice(0, eq) : token) !== undefined;
}
