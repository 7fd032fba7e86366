/**
 * Config validation: the schema, the checks between fields, places of
 * remotes and names of sources; all problems reported at once.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import { coldStorageProblems } from "./cold_checks.ts";
import { crossFieldProblems, remotePlaceProblems } from "./cross_checks.ts";
import { ConfigError } from "./error.ts";
import { issuesToProblems } from "./issues.ts";
import { nameProblems } from "./names.ts";
import { configSchema } from "./schema.ts";

/**
 * Validates a config and fills in defaults.
 *
 * @param data A config as plain data, e.g. the default export of a config file.
 * @returns The validated config.
 * @throws {ConfigError} With one line per problem, naming the field path and the fix.
 *
 * @example Validate a config written as plain data
 * ```ts
 * import { validateConfig } from "../../../mod.ts";
 *
 * const config = validateConfig({
 *   timezone: "UTC",
 *   sources: [{
 *     kind: "btrfs",
 *     path: "/home",
 *     snapshots: "/snapshots",
 *     upload: [{ remote: "usb", preserve: "1y 3m 30d 24h" }],
 *   }],
 *   remotes: [{ kind: "local", id: "usb", path: "/mnt/usb/backups" }],
 * });
 * if (config.sources[0].upload[0].pipe.length !== 0) throw new Error("no default pipe");
 * ```
 */
export function validateConfig(data: unknown): Config {
  const result = configSchema.safeParse(data);
  const problems = result.success
    ? []
    : issuesToProblems(result.error.issues, data);
  problems.push(...crossFieldProblems(data));
  if (result.success) {
    const config = result.data as Config;
    problems.push(
      ...remotePlaceProblems(config),
      ...nameProblems(config),
      ...coldStorageProblems(config),
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as Config;
}
