/**
 * The shapes of the command table: a command, its positionals (and the
 * alternative forms they take) and its flags.
 *
 * @module
 */

/** A flag of a command. */
export interface FlagSpec {
  /** The long name, without dashes: `force` for `--force`. */
  readonly name: string;
  /** A one-letter alias, without the dash. */
  readonly short?: string;
  /**
   * `boolean`: present or not; `string`: takes one value; `strings`: takes a
   * value each time it is given; `optional`: present or not, with an optional
   * value given as `--name=VALUE` only (so a following argument is never taken).
   */
  readonly kind: "boolean" | "string" | "strings" | "optional";
  /** The value's placeholder in usage texts, e.g. `DURATION`. */
  readonly value?: string;
  /** The command refuses to run without it. */
  readonly required?: boolean;
  /** One line for `--help`. */
  readonly help: string;
}

/** A positional argument of a command. */
export interface PositionalSpec {
  /** The name, shown as `<name>` (or `[name]` when optional). */
  readonly name: string;
  /** May be left out (only at the end). */
  readonly optional?: boolean;
  /** One line for `--help`. */
  readonly help: string;
}

/** Positionals used instead of a command's own when one of `when` is given. */
export interface PositionalForm {
  /** Long flag names, without dashes. */
  readonly when: readonly string[];
  /** In order. */
  readonly positionals: readonly PositionalSpec[];
  /** Flags that belong to this form only: shown in its synopsis, not the main one. */
  readonly flags?: readonly string[];
}

/** A command of the command line. */
export interface CommandSpec {
  /** What the user types: `list-backups`. */
  readonly name: string;
  /** One line for the global usage and the top of `--help`. */
  readonly summary: string;
  /** In order. */
  readonly positionals: readonly PositionalSpec[];
  /**
   * Other positional forms, each used when one of its `when` flags is given:
   * e.g. `restore --local DIR <dest> [uuid]`, the remote from flags instead
   * of `<config>` and `<remote>`.
   */
  readonly forms?: readonly PositionalForm[];
  /** Besides `--help`, which every command has. */
  readonly flags: readonly FlagSpec[];
  /** Command lines shown under "example" (without the leading `snap2s3`). */
  readonly examples: readonly string[];
}
