/**
 * Checks of the object lock and storage class fields against the rest of
 * the config: what the remote's provider can do, and which policy units a
 * class can apply to. Internal to lib/app/config.
 *
 * @module
 */

import type { Config } from "../../core/config_types.ts";
import { parsePolicy, UNITS } from "../../core/policy/grammar.ts";
import type { ConfigProblem } from "./error.ts";

/**
 * Problems of `objectLock` and `storageClasses` in a config that passed the schema.
 *
 * @param config The validated config.
 * @returns One problem per field that cannot work.
 */
export function coldStorageProblems(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  config.remotes.forEach((r, i) => {
    if (r.kind === "r2" && r.objectLock !== undefined) {
      out.push({
        path: ["remotes", i, "objectLock"],
        message:
          "Cloudflare R2 has no per-object retention (S3 Object Lock); remove objectLock, and protect the bucket with an R2 bucket lock rule instead",
      });
    }
  });
  config.sources.forEach((s, i) => {
    s.upload.forEach((u, j) => {
      if (u.storageClasses === undefined) return;
      const here = ["sources", i, "upload", j, "storageClasses"];
      const remote = config.remotes.find((r) => r.id === u.remote);
      if (remote?.kind === "local") {
        out.push({
          path: here,
          message:
            `remote ${u.remote} is a local directory, which has no storage classes; remove storageClasses`,
        });
        return;
      }
      let units: readonly string[];
      try {
        units = parsePolicy(u.preserve).units;
      } catch {
        return; // the schema reports the policy
      }
      for (const unit of UNITS) {
        if (u.storageClasses[unit] === undefined || units.includes(unit)) {
          continue;
        }
        out.push({
          path: [...here, unit],
          message: `the policy ${
            JSON.stringify(u.preserve)
          } keeps nothing for unit ${unit}, so this class would never be used; use one of its units (${
            units.join(", ") || "none"
          }) or remove it`,
        });
      }
    });
  });
  return out;
}
