/**
 * A backup script of your own: runs `update` for a policy file without asking
 * (as from cron or a systemd timer) and reports the outcome to a monitoring
 * URL (healthchecks.io-style: `<url>` on success, `<url>/fail` on failure).
 *
 *     deno run --allow-read --allow-write --allow-run --allow-ffi \
 *       --allow-net --allow-env --allow-sys \
 *       examples/monitored_backup.ts /etc/snap2s3/policy.ts https://hc.example.net/ping/abc
 */
import { loadConfig, update } from "snap2s3";

/** Runs one update and pings the monitor; returns the exit code. */
export async function monitoredBackup(
  configPath: string,
  pingUrl: string,
): Promise<number> {
  let ok = false;
  let summary = "";
  try {
    const config = await loadConfig(configPath);
    const result = await update(config, { force: true });
    ok = result.ok;
    summary = result.summary;
  } catch (e) {
    summary = e instanceof Error ? e.message : String(e);
  }
  await fetch(ok ? pingUrl : `${pingUrl}/fail`, {
    method: "POST",
    body: summary,
  })
    .then((r) => r.body?.cancel())
    .catch((e) => console.error(`could not reach the monitor: ${e}`));
  console.log(summary);
  return ok ? 0 : 1;
}

if (import.meta.main) {
  const [configPath, pingUrl] = Deno.args;
  if (!configPath || !pingUrl) {
    console.error("usage: monitored_backup.ts <policy file> <monitoring url>");
    Deno.exit(2);
  }
  Deno.exit(await monitoredBackup(configPath, pingUrl));
}
