/**
 * Usage texts, made from the command table: the global one (`snap2s3
 * --help`) and one per command (`snap2s3 <command> --help`).
 *
 * @module
 */

import {
  COMMANDS,
  type CommandSpec,
  EXIT_CODES,
  type FlagSpec,
  HELP_FLAG,
  type PositionalSpec,
} from "./commands_table.ts";

/** `snap2s3 restore <config> <dest> <remote> [uuid] [--no-verify] ...`. */
export function synopsis(command: CommandSpec): string {
  const parts = [`snap2s3 ${command.name}`];
  for (const p of command.positionals) parts.push(_positional(p));
  parts.push(..._common(command).map(_optionalFlag));
  return parts.join(" ");
}

/** The flags of every form: all but the forms' own. */
function _common(command: CommandSpec): FlagSpec[] {
  const special = new Set(
    command.forms?.flatMap((f) => [...f.when, ...f.flags ?? []]) ?? [],
  );
  return command.flags.filter((f) => !special.has(f.name));
}

function _optionalFlag(f: FlagSpec): string {
  const shown = _flagName(f);
  if (f.required) return shown;
  return f.kind === "strings" ? `[${shown}]...` : `[${shown}]`;
}

/** The other forms: `snap2s3 restore --local DIR <dest> [uuid]`, one per `when` flag. */
export function formSynopses(command: CommandSpec): string[] {
  return (command.forms ?? []).flatMap((form) =>
    form.when.map((w) => {
      const flag = (name: string) => {
        const f = command.flags.find((f) => f.name === name);
        return f ? _flagName(f) : `--${name}`;
      };
      return [
        `snap2s3 ${command.name}`,
        flag(w),
        ...form.positionals.map(_positional),
        ...(form.flags ?? []).map((f) => `[${flag(f)}]`),
        ..._common(command).map(_optionalFlag),
      ].join(" ");
    })
  );
}

/** The text of `snap2s3 --help`. */
export function globalUsage(): string {
  const lines = [
    "snap2s3: btrfs snapshots, backed up to S3 as a tree of full and differential sends",
    "",
    "usage:",
    ...COMMANDS.flatMap((c) =>
      [synopsis(c), ...formSynopses(c)].map((s) => `  ${s}`)
    ),
    "",
    "commands:",
    ..._columns(COMMANDS.map((c) => [c.name, c.summary])),
    "",
    "<config> is a TypeScript policy file (export default defineConfig({...})) or",
    "a btrfs2s3 YAML config. snap2s3 <command> --help shows a command's flags.",
    "",
    "exit codes:",
    ..._columns(EXIT_CODES),
  ];
  return lines.join("\n");
}

/** The text of `snap2s3 <command> --help`: arguments, flags, examples, exit codes. */
export function commandUsage(command: CommandSpec): string {
  const lines = [
    `usage: ${synopsis(command)}`,
    ...formSynopses(command).map((s) => `       ${s}`),
    "",
    command.summary,
  ];
  const positionals = [
    ...command.positionals,
    ...(command.forms ?? []).flatMap((f) => f.positionals),
  ].filter((p, i, all) => all.findIndex((q) => q.name === p.name) === i);
  if (positionals.length) {
    lines.push(
      "",
      "arguments:",
      ..._columns(positionals.map((p) => [_positional(p), p.help])),
    );
  }
  lines.push(
    "",
    "flags:",
    ..._columns(
      [...command.flags, HELP_FLAG].map((f) => [
        (f.short ? `-${f.short}, ` : "") + _flagName(f),
        f.help + (f.required ? " (required)" : ""),
      ]),
    ),
    "",
    command.examples.length > 1 ? "examples:" : "example:",
    ...command.examples.map((e) => `  snap2s3 ${e}`),
    "",
    "exit codes:",
    ..._columns(EXIT_CODES),
  );
  return lines.join("\n");
}

function _positional(p: PositionalSpec): string {
  return p.optional ? `[${p.name}]` : `<${p.name}>`;
}

function _flagName(f: FlagSpec): string {
  if (f.kind === "boolean") return `--${f.name}`;
  if (f.kind === "optional") return `--${f.name}[=${f.value}]`;
  return `--${f.name} ${f.value}`;
}

function _columns(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}
