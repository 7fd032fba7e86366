/**
 * What every command called from a script starts with: the config checked
 * against the schema, and where its messages go.
 *
 * @module
 */

import type { Config, ConfigInput } from "../../core/config_types.ts";
import { validateConfig } from "../config/validate.ts";
import { memoryOutput, type Output } from "../output.ts";
import type { RunLockOptions } from "../run_lock.ts";

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

/**
 * How a command takes its run locks: it waits as long as `waitLock` says,
 * `signal` stops the wait, and each wait is told on stderr.
 *
 * @param command The holder's command recorded in the lock.
 * @param options The command's options.
 * @param out The command's output.
 * @returns The options of the lock call.
 */
export function runLockOptions(
  command: string,
  options: { readonly waitLock?: number; readonly signal?: AbortSignal },
  out: Output,
): RunLockOptions {
  return {
    command,
    wait: options.waitLock,
    signal: options.signal,
    onWait: (line) => out.error(line),
  };
}
