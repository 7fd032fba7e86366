/**
 * The config's `notify` hooks and `metricsFile`: a local HTTP server receives
 * start and success, a command hook gets the summary on stdin, a failing hook
 * never fails the backup, the metrics file is valid Prometheus text whose
 * counters carry over. Real btrfs and a local-directory remote.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { loadConfig, validateConfig } from "../mod.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { parsePrometheusText, renderMetrics } from "../lib/app/metrics.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** An HTTP server on 127.0.0.1 that records each POST; `/broken` answers 500. */
function hookServer() {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      received.push({ path, body: JSON.parse(await req.text()) });
      return new Response("OK", { status: path === "/broken" ? 500 : 200 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { received, url, close: () => server.shutdown() };
}

async function cli(args: string[]) {
  const out = memoryOutput();
  const code = await main(args, out);
  return { code, stdout: out.stdout.join("\n"), stderr: out.stderr.join("\n") };
}

/** Every line is a HELP or TYPE line or a sample `name{labels} value`. */
function assertPrometheusFormat(text: string): void {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  for (const line of text.trimEnd().split("\n")) {
    assert.match(
      line,
      /^(# HELP [a-z_:][a-z0-9_:]* .+|# TYPE [a-z_:][a-z0-9_:]* (gauge|counter)|[a-z_:][a-z0-9_:]*(\{([a-z_]+="(?:[^"\\]|\\.)*",?)+\})? -?[0-9.e+]+)$/,
      line,
    );
  }
}

function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return parsePrometheusText(text).find((s) =>
    s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels)
  )?.value;
}

Deno.test({
  name:
    "update tells its notify hooks and writes the metrics file; a failing hook never fails the backup",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 256 });
    const data = `${fs.mountPoint}/data`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    await Deno.writeTextFile(`${data}/a.txt`, "one\n");
    const dir = await Deno.makeTempDir();
    const hooks = hookServer();
    const metricsFile = `${dir}/snap2s3.prom`;
    const base = {
      timezone: "UTC",
      remotes: [{ kind: "local", id: "usb", path: remote }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: `${fs.mountPoint}/snapshots`,
        upload: [{ remote: "usb", preserve: "1y 1d" }],
      }],
      metricsFile,
    };
    const write = async (name: string, config: unknown) => {
      const path = `${dir}/${name}.ts`;
      await Deno.writeTextFile(
        path,
        `export default ${JSON.stringify(config)};`,
      );
      return path;
    };
    try {
      await t.step(
        "a notify URL receives start, then success with the summary",
        async () => {
          const file = await write("good", {
            ...base,
            notify: {
              start: `${hooks.url}/ping/start`,
              success: `${hooks.url}/ping`,
              failure: `${hooks.url}/ping/fail`,
            },
          });
          const r = await cli(["update", "--force", file]);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(hooks.received.map((h) => h.path), [
            "/ping/start",
            "/ping",
          ]);
          assert.equal(hooks.received[0].body.event, "start");
          const done = hooks.received[1].body;
          assert.equal(done.event, "success");
          assert.equal(done.ok, true);
          assert.equal(done.created, 1);
          assert.equal((done.uploaded as string[]).length, 1);
          assert.match(String(done.uploaded), /^usb:data\.ctim/);
          assert.equal(done.error, null);
          assert.ok((done.bytesUploaded as number) > 0);
        },
      );

      await t.step(
        "the metrics file parses as Prometheus text with the run's facts",
        async () => {
          const text = await Deno.readTextFile(metricsFile);
          assertPrometheusFormat(text);
          assert.match(
            text,
            /^# TYPE snap2s3_last_success_timestamp_seconds gauge$/m,
          );
          assert.match(text, /^# TYPE snap2s3_failures_total counter$/m);
          assert.equal(sample(text, "snap2s3_last_run_success"), 1);
          assert.equal(sample(text, "snap2s3_failures_total"), 0);
          assert.equal(sample(text, "snap2s3_runs_total"), 1);
          assert.equal(sample(text, "snap2s3_uploaded_backups_total"), 1);
          const last = sample(text, "snap2s3_last_success_timestamp_seconds")!;
          assert.ok(Math.abs(last - Date.now() / 1000) < 60, `${last}`);
          const labels = { source: data, remote: "usb" };
          const newest = sample(
            text,
            "snap2s3_newest_backup_timestamp_seconds",
            labels,
          );
          assert.ok(newest && Math.abs(newest - Date.now() / 1000) < 60);
          assert.ok(
            sample(text, "snap2s3_newest_backup_age_seconds", labels)! >= 0,
          );
          assert.ok(sample(text, "snap2s3_uploaded_bytes_total")! > 0);
          assert.equal(
            sample(text, "snap2s3_uploaded_bytes_total"),
            sample(text, "snap2s3_last_run_uploaded_bytes"),
          );
          // Written by rename: no temporary file is left beside it.
          assert.deepEqual(
            (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
              .filter((n) => n.includes("prom")),
            ["snap2s3.prom"],
          );
        },
      );

      await t.step(
        "a failed run tells the failure hook; counters carry over, the last success stays",
        async () => {
          const before = await Deno.readTextFile(metricsFile);
          await Deno.writeTextFile(`${data}/a.txt`, "changed\n");
          // A pipe stage that fails: the upload fails, nothing is kept.
          const file = await write("failing", {
            ...base,
            sources: [{
              ...base.sources[0],
              upload: [{
                ...base.sources[0].upload[0],
                pipe: [{
                  kind: "cmd",
                  argv: [
                    "sh",
                    "-c",
                    "cat >/dev/null; echo disk on fire >&2; exit 5",
                  ],
                }],
              }],
            }],
            notify: {
              success: `${hooks.url}/ping`,
              failure: `${hooks.url}/ping/fail`,
            },
          });
          hooks.received.length = 0;
          const r = await cli(["update", "--force", file]);
          assert.equal(r.code, 1, r.stderr);
          assert.deepEqual(hooks.received.map((h) => h.path), ["/ping/fail"]);
          assert.equal(hooks.received[0].body.ok, false);
          assert.match(
            String(hooks.received[0].body.error),
            /exited with code 5; stderr: disk on fire/,
          );
          const text = await Deno.readTextFile(metricsFile);
          assertPrometheusFormat(text);
          assert.equal(sample(text, "snap2s3_last_run_success"), 0);
          assert.equal(sample(text, "snap2s3_failures_total"), 1);
          assert.equal(sample(text, "snap2s3_runs_total"), 2);
          assert.equal(
            sample(text, "snap2s3_last_success_timestamp_seconds"),
            sample(before, "snap2s3_last_success_timestamp_seconds"),
          );
        },
      );

      await t.step(
        "a command hook reads the summary on stdin; a failing hook is a warning and the backup succeeds",
        async () => {
          await Deno.writeTextFile(`${data}/a.txt`, "two\n");
          const got = `${dir}/hook.json`;
          const file = await write("hooks_fail", {
            ...base,
            notify: {
              start: `${hooks.url}/broken`,
              success: [
                "sh",
                "-c",
                `cat > ${got}; printf "\\n%s\\n" "$SNAP2S3_EVENT" >> ${got}; exit 3`,
              ],
            },
          });
          const r = await cli(["update", "--force", file]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(
            r.stderr,
            /warning: notify\.start: POST .*broken answered 500/,
          );
          assert.match(r.stderr, /warning: notify\.success: sh exited 3/);
          const [json, event] = (await Deno.readTextFile(got)).trim().split(
            "\n",
          );
          assert.equal(JSON.parse(json).event, "success");
          assert.equal(event, "success");
          assert.match(r.stdout, /1 backup\(s\) uploaded/);
        },
      );
    } finally {
      await hooks.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("notify and metricsFile are checked by the schema, in TypeScript and YAML", async () => {
  const good = {
    timezone: "UTC",
    remotes: [{ kind: "local", id: "usb", path: "/mnt/usb" }],
    sources: [],
  };
  const c = validateConfig({
    ...good,
    notify: { start: "https://hc-ping.com/x/start", failure: ["/bin/true"] },
    metricsFile: "/var/lib/node_exporter/snap2s3.prom",
  });
  assert.deepEqual(c.notify?.failure, ["/bin/true"]);
  const problems = (input: unknown) => {
    try {
      validateConfig(input);
      return "";
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
  };
  assert.match(
    problems({ ...good, notify: { start: "ftp://x" } }),
    /notify\.start: .*URL .*or a command as an array/,
  );
  assert.match(problems({ ...good, notify: { begin: "https://x" } }), /begin/);
  assert.match(
    problems({ ...good, metricsFile: "/tmp/x.txt" }),
    /metricsFile: must end in "\.prom"/,
  );
  const dir = await Deno.makeTempDir();
  try {
    const yaml = `${dir}/config.yaml`;
    await Deno.writeTextFile(
      yaml,
      `timezone: UTC
sources: []
remotes:
  - id: aws
    s3: { bucket: b }
notify:
  success: https://hc-ping.com/x
  failure: [/usr/local/bin/page, "backup failed"]
metrics_file: /var/lib/node_exporter/snap2s3.prom
`,
    );
    const y = await loadConfig(yaml);
    assert.equal(y.notify?.success, "https://hc-ping.com/x");
    assert.deepEqual(y.notify?.failure, [
      "/usr/local/bin/page",
      "backup failed",
    ]);
    assert.equal(y.metricsFile, "/var/lib/node_exporter/snap2s3.prom");
    await Deno.writeTextFile(
      yaml,
      `timezone: UTC\nsources: []\nremotes: [{id: aws, s3: {bucket: b}}]\nmetrics_file: relative.prom\n`,
    );
    await assert.rejects(
      () => loadConfig(yaml),
      /metrics_file: must be an absolute path/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics render and parse back; label values are escaped", () => {
  const text = renderMetrics({
    ok: true,
    endedMs: 1_700_000_000_000,
    durationMs: 1234,
    bytesUploaded: 10,
    backupsUploaded: 1,
    newest: [{
      source: '/we"ird\\path',
      remote: "usb",
      ctimeMs: 1_699_999_990_000,
    }],
  });
  assertPrometheusFormat(text);
  const labels = { source: '/we"ird\\path', remote: "usb" };
  assert.equal(sample(text, "snap2s3_newest_backup_age_seconds", labels), 10);
  assert.equal(sample(text, "snap2s3_last_run_duration_seconds"), 1.234);
  // The next run carries the pair over when it did not see it.
  const next = renderMetrics({
    ok: false,
    endedMs: 1_700_000_100_000,
    durationMs: 1,
    bytesUploaded: 5,
    backupsUploaded: 0,
    newest: [],
  }, parsePrometheusText(text));
  assert.equal(sample(next, "snap2s3_newest_backup_age_seconds", labels), 110);
  assert.equal(sample(next, "snap2s3_uploaded_bytes_total"), 15);
  assert.equal(
    sample(next, "snap2s3_last_success_timestamp_seconds"),
    1_700_000_000,
  );
  assert.throws(() => parsePrometheusText("snap2s3_x{a=b} 1\n"), SyntaxError);
});
