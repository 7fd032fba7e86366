/**
 * The config's `metricsFile`: a Prometheus textfile for node_exporter's
 * textfile collector, rewritten atomically (a temporary file renamed over
 * it) after each update, so the collector never reads half a file.
 * Counters and the last success time carry over from the previous file.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** One update run, as the metrics file records it. */
export interface MetricsRun {
  /** The run succeeded (or had nothing to do). */
  ok: boolean;
  /** When it ended (ms since the epoch). */
  endedMs: number;
  /** How long it took (ms). */
  durationMs: number;
  /** Bytes uploaded by this run (after the pipe stages). */
  bytesUploaded: number;
  /** Backups uploaded by this run. */
  backupsUploaded: number;
  /**
   * The newest backup per source and remote after the run (its ctime, ms);
   * a pair the run could not see keeps its value from the previous file.
   */
  newest: { source: string; remote: string; ctimeMs: number }[];
}

/** One sample of a Prometheus text file. */
export interface MetricSample {
  /** Metric name. */
  name: string;
  /** Label values by name. */
  labels: Record<string, string>;
  /** The value. */
  value: number;
}

const _P = "snap2s3_";

/** The gauges' help texts, by name without the prefix. */
const _GAUGES: Record<string, string> = {
  last_run_timestamp_seconds: "When the last update run ended.",
  last_run_success: "1 when the last update run succeeded, else 0.",
  last_run_duration_seconds: "How long the last update run took.",
  last_run_uploaded_bytes: "Bytes the last update run uploaded.",
  last_success_timestamp_seconds: "When the last successful update run ended.",
  newest_backup_timestamp_seconds:
    "ctime of the newest backup of a source in a remote.",
  newest_backup_age_seconds:
    "Age of the newest backup of a source in a remote when the file was written.",
};

/** The counters' help texts; each carries over from the previous file. */
const _COUNTERS: Record<string, string> = {
  runs_total: "Update runs.",
  failures_total: "Update runs that failed.",
  uploaded_bytes_total: "Bytes uploaded, over all runs.",
  uploaded_backups_total: "Backups uploaded, over all runs.",
};

/**
 * Writes the metrics file for a run, carrying counters and the last success
 * time over from the file it replaces.
 *
 * @param path The `.prom` file.
 * @param run What the run did.
 */
export async function writeMetricsFile(
  path: string,
  run: MetricsRun,
): Promise<void> {
  let previous: MetricSample[] = [];
  try {
    previous = parsePrometheusText(await Deno.readTextFile(path));
  } catch (e) {
    // A missing file is the first run; an unreadable one starts the counters anew.
    if (!(e instanceof Deno.errors.NotFound) && !(e instanceof SyntaxError)) {
      throw e;
    }
  }
  const text = renderMetrics(run, previous);
  // Same directory, a name the collector skips (it reads only *.prom).
  const tmp = join(dirname(path), `.${basename(path)}.${Deno.pid}.tmp`);
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o644 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * The metrics of a run as Prometheus text (exposition format 0.0.4).
 *
 * @param run What the run did.
 * @param previous The samples of the file it replaces (counters carry over).
 * @returns The file's text.
 */
export function renderMetrics(
  run: MetricsRun,
  previous: readonly MetricSample[] = [],
): string {
  const old = (name: string) =>
    previous.find((s) => s.name === _P + name && !Object.keys(s.labels).length)
      ?.value;
  const sec = (ms: number) => Math.round(ms) / 1000;
  const samples = new Map<string, MetricSample[]>();
  const add = (name: string, value: number, labels = {}) => {
    const list = samples.get(name) ?? [];
    list.push({ name: _P + name, labels, value });
    samples.set(name, list);
  };
  add("last_run_timestamp_seconds", sec(run.endedMs));
  add("last_run_success", run.ok ? 1 : 0);
  add("last_run_duration_seconds", sec(run.durationMs));
  add("last_run_uploaded_bytes", run.bytesUploaded);
  const lastSuccess = run.ok
    ? sec(run.endedMs)
    : old("last_success_timestamp_seconds");
  if (lastSuccess !== undefined) {
    add("last_success_timestamp_seconds", lastSuccess);
  }
  const count = (name: string, by: number) => add(name, (old(name) ?? 0) + by);
  count("runs_total", 1);
  count("failures_total", run.ok ? 0 : 1);
  count("uploaded_bytes_total", run.bytesUploaded);
  count("uploaded_backups_total", run.backupsUploaded);
  // Pairs this run saw, then those only the previous file knew.
  const newest = new Map<
    string,
    { source: string; remote: string; ms: number }
  >();
  for (const s of previous) {
    if (s.name !== _P + "newest_backup_timestamp_seconds") continue;
    const { source, remote } = s.labels;
    if (source === undefined || remote === undefined) continue;
    newest.set(JSON.stringify([source, remote]), {
      source,
      remote,
      ms: s.value * 1000,
    });
  }
  for (const n of run.newest) {
    newest.set(JSON.stringify([n.source, n.remote]), {
      source: n.source,
      remote: n.remote,
      ms: n.ctimeMs,
    });
  }
  for (const n of newest.values()) {
    const labels = { source: n.source, remote: n.remote };
    add("newest_backup_timestamp_seconds", sec(n.ms), labels);
    add(
      "newest_backup_age_seconds",
      Math.max(0, sec(run.endedMs - n.ms)),
      labels,
    );
  }
  const lines: string[] = [];
  for (const [name, list] of samples) {
    const [type, help] = Object.hasOwn(_COUNTERS, name)
      ? ["counter", _COUNTERS[name]]
      : ["gauge", _GAUGES[name]];
    lines.push(`# HELP ${_P}${name} ${help}`, `# TYPE ${_P}${name} ${type}`);
    for (const s of list) {
      lines.push(`${s.name}${_labels(s.labels)} ${s.value}`);
    }
  }
  return lines.join("\n") + "\n";
}

function _labels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${
      v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
    }"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

const _NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const _SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const _LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/**
 * Parses Prometheus text exposition format: `# HELP` and `# TYPE` lines,
 * samples `name{label="value",...} value [timestamp]`.
 *
 * @param text The file.
 * @returns Every sample, in order.
 * @throws {SyntaxError} Naming the first line that is not in the format.
 */
export function parsePrometheusText(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  const types = new Map<string, string>();
  text.split("\n").forEach((line, i) => {
    const bad = (why: string): never => {
      throw new SyntaxError(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const m = line.match(/^# (HELP|TYPE) (\S+)(?: (.*))?$/);
      if (!m) return; // a plain comment
      if (!_NAME.test(m[2])) bad("bad metric name");
      if (m[1] === "TYPE") {
        if (
          !["counter", "gauge", "histogram", "summary", "untyped"].includes(
            m[3] ?? "",
          )
        ) bad("bad type");
        if (types.has(m[2])) bad("second TYPE line");
        if (out.some((s) => s.name === m[2])) bad("TYPE after its samples");
        types.set(m[2], m[3]!);
      }
      return;
    }
    const m = line.match(_SAMPLE);
    if (!m) return bad("not a sample");
    const labels: Record<string, string> = {};
    if (m[3]) {
      _LABEL.lastIndex = 0;
      let pos = 0;
      while (pos < m[3].length) {
        _LABEL.lastIndex = pos;
        const l = _LABEL.exec(m[3]);
        if (!l) bad("bad labels");
        labels[l![1]] = l![2].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
        pos = _LABEL.lastIndex;
      }
    }
    const value = m[4] === "+Inf"
      ? Infinity
      : m[4] === "-Inf"
      ? -Infinity
      : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") bad("bad value");
    out.push({ name: m[1], labels, value });
  });
  return out;
}
