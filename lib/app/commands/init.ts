/**
 * `init DIR`: a starter policy file and, beside it, a `deno.json` whose
 * import map points `snap2s3` at this installation, so the policy can live
 * anywhere (`/etc/snap2s3/`) and `deno check` and editors still resolve it.
 *
 * @module
 */

import { join, resolve } from "node:path";
import denoJson from "../../../deno.json" with { type: "json" };
import { timeZoneProblem } from "../../core/zone.ts";

/** Options of {@linkcode init}. */
export interface InitOptions {
  /** The policy's zone (default: the system's, else UTC). */
  timezone?: string;
}

/** What {@linkcode init} wrote. */
export interface InitResult {
  /** The policy file. */
  policy: string;
  /** The `deno.json` beside it. */
  denoJson: string;
  /** The zone written into the policy. */
  timezone: string;
}

/** A file `init` would overwrite: bad input, nothing written. */
export class InitExistsError extends Error {
  /**
   * @param path The file that is there already.
   */
  constructor(path: string) {
    super(
      `${path} exists already: nothing written; move it away or choose another directory`,
    );
    this.name = "InitExistsError";
  }
}

// The project root, as a URL: `snap2s3` maps to its mod.ts.
const _ROOT = new URL("../../../", import.meta.url);

/**
 * The import map a policy file outside the project needs: `snap2s3` and
 * every package the library imports, as the project pins them.
 *
 * @returns Specifier to URL, `snap2s3` first.
 */
export function policyImportMap(): Record<string, string> {
  const imports: Record<string, string> = {
    snap2s3: new URL("mod.ts", _ROOT).href,
  };
  for (const [name, target] of Object.entries(denoJson.imports)) {
    if (name === "snap2s3") continue;
    imports[name] = /^\.\.?\//.test(target)
      ? new URL(target, _ROOT).href
      : target;
  }
  return imports;
}

/**
 * Writes `policy.ts` and `deno.json` into `dir` (made if missing). Refuses,
 * writing nothing, when either file exists.
 *
 * @param dir Where the policy will live.
 * @param options See {@linkcode InitOptions}.
 * @returns The files written and the zone chosen.
 * @throws {InitExistsError} When a file is there already.
 */
export async function init(
  dir: string,
  options: InitOptions = {},
): Promise<InitResult> {
  const abs = resolve(dir);
  const policy = join(abs, "policy.ts");
  const config = join(abs, "deno.json");
  for (const path of [policy, config]) {
    if (await _exists(path)) throw new InitExistsError(path);
  }
  const timezone = options.timezone ?? _systemZone();
  await Deno.mkdir(abs, { recursive: true });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ imports: policyImportMap() }, null, 2) + "\n",
    { createNew: true },
  );
  await Deno.writeTextFile(policy, starterPolicy(timezone), {
    createNew: true,
  });
  return { policy, denoJson: config, timezone };
}

/**
 * The starter policy: one local-directory remote and one source, with the
 * other choices named in comments.
 *
 * @param timezone The zone to write.
 * @returns The file's text.
 */
export function starterPolicy(timezone: string): string {
  return `/**
 * What snap2s3 backs up, where to, and for how long.
 *
 *   deno check policy.ts                  # a typo fails here, naming the field
 *   snap2s3 update policy.ts --pretend    # the plan, without changing anything
 *   snap2s3 update policy.ts --force      # carry it out (cron, systemd timers)
 *   snap2s3 status policy.ts              # exit 1 when a backup is overdue
 */
import { btrfs, defineConfig, localDir, zstd } from "snap2s3";

export default defineConfig({
  // Policy intervals (days, months, ...) are computed in this zone.
  timezone: ${JSON.stringify(timezone)},
  remotes: [
    // A directory (a USB disk, a NAS mount); or s3({ id, bucket, region }),
    // r2({ id, accountId, bucket }), b2({ id, bucket, region }).
    localDir({ id: "usb", path: "/mnt/backup/snap2s3" }),
  ],
  sources: [
    btrfs({
      path: "/home", // a btrfs subvolume
      snapshots: "/.snapshots", // a directory on the same filesystem
      upload: [{
        remote: "usb",
        // One yearly, three monthlies, thirty dailies, twenty-four hourlies.
        preserve: "1y 3m 30d 24h",
        pipe: [zstd()], // also gzip(), age({ recipients }), gpg({ recipient })
      }],
    }),
  ],
  // Told at the start and end of each update: a URL, or a command as an
  // array; healthchecks(url) (import it too) gives /start, the URL and /fail.
  // notify: healthchecks("https://hc-ping.com/<uuid>"),
  // For node_exporter's textfile collector:
  // metricsFile: "/var/lib/prometheus/node-exporter/snap2s3.prom",
});
`;
}

function _systemZone(): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && timeZoneProblem(zone) === null ? zone : "UTC";
}

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
