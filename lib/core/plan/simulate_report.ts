/**
 * Text of `simulate`'s history and cost estimate, for a terminal.
 *
 * @module
 */

import { formatSize } from "../format.ts";
import type {
  CostEstimate,
  RequestKind,
  RequestLine,
  RestoreCost,
} from "./cost_model.ts";
import { MONTH_HOURS } from "./cost.ts";
import type { HistorySummary } from "./history.ts";

/** Formats an instant in the simulation's zone. */
export type IsoFormatter = (t: Temporal.Instant) => string;

/** The history, one line per month, then the totals. */
export function renderHistory(h: HistorySummary): string {
  const bytes = h.uploadedBytes !== undefined;
  const head = ["month", "runs", "uploads", "fulls", "deleted", "deepest"];
  if (bytes) head.push("uploaded");
  const rows = h.months.map((m) => {
    const row = [
      m.month,
      _int(m.runs),
      _int(m.uploads),
      _int(m.fulls),
      _int(m.deletes),
      _int(m.deepestChain),
    ];
    if (bytes) row.push(formatSize(m.uploadedBytes ?? 0));
    return row;
  });
  const lines = [
    "history (per calendar month; deepest: the longest chain a restore of a backup uploaded that month reads):",
    ..._table([head, ...rows], 2, 1),
    `  in all: ${_int(h.runs)} runs, ${_int(h.uploads)} uploads (${
      _int(h.fulls)
    } full), ${_int(h.deletes)} deleted, deepest chain ${h.deepestChain}${
      bytes ? `, ${formatSize(h.uploadedBytes ?? 0)} uploaded` : ""
    }`,
  ];
  return lines.join("\n");
}

const _KINDS: readonly RequestKind[] = [
  "PUT",
  "multipart",
  "LIST",
  "HEAD",
  "GET",
  "DELETE",
  "RESTORE",
];

function _byKind(lines: readonly RequestLine[]): string {
  return _KINDS.map((k) => {
    const n = lines.filter((l) => l.kind === k).reduce(
      (s, l) => s + l.count,
      0,
    );
    return `${k} ${_count(n)}`;
  }).join(", ");
}

/** The estimate: per month in steady state, then the restore, then the assumptions. */
export function renderCost(c: CostEstimate, iso: IsoFormatter): string {
  const out: string[] = [];
  out.push(
    `cost on ${c.title} (prices: ${c.source})`,
    `  per month in steady state, averaged over ${iso(c.window.start)} .. ${
      iso(c.window.end)
    } (${_num(c.window.days, 1)} days) and scaled to ${MONTH_HOURS} hours:`,
    `  a full backup is ${formatSize(c.fullBytes)}`,
  );
  const rows: string[][] = [];
  for (const s of c.storage) {
    rows.push([
      "stored",
      s.storageClass,
      `${formatSize(s.averageBytes)} on average (${
        _num(s.gbMonths, 1)
      } GB-months)`,
      _usd(s.usd),
    ]);
  }
  for (const r of c.requestClasses) {
    rows.push([
      "requests",
      r.title,
      `${_count(r.count)}${r.free > 0 ? ` (${_count(r.free)} free)` : ""}`,
      _usd(r.usd),
    ]);
  }
  for (const e of c.earlyDeletion) {
    rows.push([
      "early deletion",
      e.storageClass,
      `${_num(e.backups, 1)} backups deleted before the minimum duration`,
      _usd(e.usd),
    ]);
  }
  rows.push(["total", "", "", _usd(c.monthlyUsd)]);
  out.push(..._table(rows, 4, 3));
  out.push(`    requests by kind: ${_byKind(c.requests)}`);
  if (c.restore) {
    out.push(..._restoreLines("restoring the newest snapshot", c.restore, iso));
  }
  const w = c.worstRestore;
  if (w && (!c.restore || w.bytes > c.restore.bytes)) {
    out.push(
      ..._restoreLines(
        "at worst in the window, restoring the newest snapshot",
        w,
        iso,
      ),
    );
  }
  out.push("  assumptions:");
  for (const a of c.assumptions) out.push(`    - ${a}`);
  return out.join("\n");
}

/** Columns padded to their widest cell; the first `left` columns left-aligned, the rest right-aligned. */
function _restoreLines(
  what: string,
  r: RestoreCost,
  iso: IsoFormatter,
): string[] {
  return [
    `  ${what} (${iso(r.ctime)}): a chain of ${r.backups} backup${
      r.backups === 1 ? "" : "s"
    }, ${formatSize(r.bytes)}`,
    `    requests: ${_byKind(r.requests)}`,
    `    egress ${_usd(r.egressUsd)} + requests ${
      _usd(r.requestsUsd)
    } + retrieval ${_usd(r.retrievalUsd)} = ${_usd(r.totalUsd)}`,
    `    time: ${_duration(r.downloadSeconds)} at an assumed ${
      _rate(r.bytesPerSecond)
    }${
      r.retrievalWait ? `, after a retrieval wait of ${r.retrievalWait}` : ""
    }`,
  ];
}

function _table(rows: string[][], indent: number, left: number): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    " ".repeat(indent) +
    row.map((cell, i) =>
      i < left ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
    ).join("  ").trimEnd()
  );
}

function _int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function _count(n: number): string {
  // Scaled counts are fractions; sums of them are whole up to rounding error.
  return Math.abs(n - Math.round(n)) < 1e-6 ? _int(n) : _num(n, 1);
}

function _num(n: number, digits: number): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Dollars: cents, or four decimals under a dollar so small fees show. */
function _usd(usd: number): string {
  const v = Math.abs(usd) < 1e-9 ? 0 : usd;
  return `$${_num(v, v !== 0 && Math.abs(v) < 1 ? 4 : 2)}`;
}

function _rate(bytesPerSecond: number): string {
  const mbit = bytesPerSecond * 8 / 1e6;
  return `${_num(mbit, mbit < 10 ? 1 : 0)} Mbit/s (${
    formatSize(bytesPerSecond)
  }/s)`;
}

function _duration(seconds: number): string {
  if (seconds < 60) return `${_num(seconds, 0)} s`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}
