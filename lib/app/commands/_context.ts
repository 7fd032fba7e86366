/**
 * What every command called from a script starts with: the config checked
 * against the schema, and where its messages go.
 *
 * @module
 */

import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateConfig } from "../config/validate.ts";
import { memoryOutput, type Output } from "../output.ts";

/**
 * The validated config and the command's output (kept in memory when the
 * caller gave none).
 *
 * @param configInput The config as given.
 * @param options The command's options, for their `output`.
 * @returns The config and the output.
 * @throws {ConfigError} When the config does not match the schema.
 */
export function commandContext(
  configInput: Config | ConfigInput,
  options: { readonly output?: Output },
): { config: Config; out: Output } {
  return {
    config: validateConfig(configInput),
    out: options.output ?? memoryOutput(),
  };
}
