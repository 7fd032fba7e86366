/**
 * `--tier`, `--days` and `--wait` (restore, verify, cat) read into the
 * retrieval options of archived backups; bad values are usage errors.
 *
 * @module
 */

import type { RetrievalOptions } from "../retrieval.ts";
import { RESTORE_TIERS } from "../retrieval.ts";
import type { RestoreTier } from "../../drivers/remote/cold_storage.ts";
import { type ParsedArgs, UsageError } from "./args.ts";

/**
 * The retrieval options of a command line.
 *
 * @param args The parsed arguments.
 * @param command The command, for the usage error.
 * @returns Tier, days and wait.
 * @throws {UsageError} For a tier that is not one of Standard, Bulk, Expedited, or days that are not a whole number from 1 to 36500.
 */
export function retrievalArgs(
  args: ParsedArgs,
  command: string,
): RetrievalOptions {
  const tier = args.string("tier");
  const days = args.string("days");
  const out: RetrievalOptions = { wait: args.boolean("wait") };
  if (tier !== undefined) {
    const found = RESTORE_TIERS.find((t) =>
      t.toLowerCase() === tier.toLowerCase()
    );
    if (!found) {
      throw new UsageError(
        `--tier ${JSON.stringify(tier)}: use one of ${
          RESTORE_TIERS.join(", ")
        }`,
        command,
      );
    }
    out.tier = found as RestoreTier;
  }
  if (days !== undefined) {
    const n = Number(days);
    if (!Number.isSafeInteger(n) || n < 1 || n > 36500) {
      throw new UsageError(
        `--days ${
          JSON.stringify(days)
        } must be a whole number of days from 1 to 36500`,
        command,
      );
    }
    out.days = n;
  }
  return out;
}
