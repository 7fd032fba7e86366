/**
 * What a policy costs per month in steady state, priced from a simulation's
 * history: bytes stored per storage class, requests by kind, early-deletion
 * fees, and the cost and time of restoring the newest snapshot. Pure: the
 * request shapes of the transfer manager and the price list come in as data.
 *
 * @module
 */

import type { PriceTable, StorageClassPrices } from "../prices/price_table.ts";
import { UNITS } from "../policy/grammar.ts";
import type { Policy } from "../policy/grammar.ts";
import type { Unit } from "../policy/vocabulary.ts";
import { unitsDuration } from "../policy/step.ts";
import type { HistoryRun, HistoryUpload } from "./history.ts";
import type {
  CostEstimate,
  CostOptions,
  CostWindow,
  RequestClassCost,
  RequestKind,
  RequestLine,
  RestoreCost,
  SizeModel,
  StorageLine,
} from "./cost_model.ts";

const _HOUR_MS = 3_600_000;
const _DAY_MS = 24 * _HOUR_MS;
/** A billing month: 730 hours (a 365-day year / 12). */
export const MONTH_HOURS = 730;
const _MONTH_MS = MONTH_HOURS * _HOUR_MS;

/**
 * The size of a backup under `model`: a full is `sourceBytes / compression`,
 * a differential `changeBytesPerDay × days since its parent / compression`,
 * at most a full. Whole bytes.
 */
export function backupBytes(u: HistoryUpload, model: SizeModel): number {
  const full = model.sourceBytes / model.compression;
  if (u.parentCtime === null) return Math.round(full);
  const days = (u.ctime.epochMilliseconds - u.parentCtime.epochMilliseconds) /
    _DAY_MS;
  return Math.round(
    Math.min(full, model.changeBytesPerDay * days / model.compression),
  );
}

/**
 * The window the monthly figures average over: the last `length` (default:
 * one interval of the policy's coarsest unit, a month for the empty policy)
 * before `end`, or the whole simulation when that is shorter. Warns when the
 * simulation did not run long enough before the window for the tree to fill
 * up (the policy's longest span).
 */
export function costWindow(
  policy: Policy,
  start: Temporal.Instant,
  end: Temporal.Instant,
  timeZone: string,
  length?: Temporal.Duration,
): { window: CostWindow; warnings: string[] } {
  const span = (u: Unit, n: number) => unitsDuration({ [u]: n });
  const coarsest = policy.units[0];
  const len = length ?? (coarsest ? span(coarsest, 1) : span("m", 1));
  const endZ = end.toZonedDateTimeISO(timeZone);
  let wStart = endZ.subtract(len).toInstant();
  const warnings: string[] = [];
  let includeStart = false;
  if (Temporal.Instant.compare(wStart, start) <= 0) {
    wStart = start;
    includeStart = true;
    warnings.push(
      "the simulation is shorter than the cost window: the figures include filling the tree; start earlier for the steady state",
    );
  } else {
    let fill = wStart;
    for (const u of policy.units) {
      const t = wStart.toZonedDateTimeISO(timeZone).subtract(
        span(u, policy.counts[u]),
      ).toInstant();
      if (Temporal.Instant.compare(t, fill) < 0) fill = t;
    }
    if (Temporal.Instant.compare(start, fill) > 0) {
      warnings.push(
        `the tree may not have filled up before the cost window (it needs the policy's longest span, from ${fill.toString()}); start earlier for the steady state`,
      );
    }
  }
  return { window: { start: wStart, end, includeStart }, warnings };
}

/** The storage class of an upload: that of its coarsest unit with one, else the default. */
export function storageClassFor(
  u: Pick<HistoryUpload, "units">,
  classes: Partial<Record<Unit, string>> | undefined,
  fallback: string,
): string {
  if (classes) {
    for (const unit of UNITS) {
      const c = classes[unit];
      if (c !== undefined && u.units.includes(unit)) return c;
    }
  }
  return fallback;
}

interface _Live {
  bytes: number;
  objects: number[];
  /** Whether it has a manifest (not one PutObject, whose metadata holds its SHA-256). */
  manifest: boolean;
  storageClass: string;
  uploadedAt: number;
  parentUuid: string | null;
  ctime: Temporal.Instant;
}

class _Counter {
  readonly lines = new Map<string, RequestLine>();
  add(kind: RequestKind, requestClass: string, n: number): void {
    if (n === 0) return;
    const key = `${kind}\u0000${requestClass}`;
    const line = this.lines.get(key);
    if (line) line.count += n;
    else this.lines.set(key, { kind, requestClass, count: n });
  }
  scaled(f: number): RequestLine[] {
    return [...this.lines.values()].map((l) => ({ ...l, count: l.count * f }));
  }
}

/**
 * Prices a simulation's history.
 *
 * @param runs The history, in order (from {@linkcode historyRecorder}).
 * @param options Prices, sizes, request shapes, classes, window.
 * @returns The monthly estimate and the cost of one restore.
 * @throws {RangeError} When a storage class is not in the price list.
 */
export function estimateCost(
  runs: readonly HistoryRun[],
  options: CostOptions,
): CostEstimate {
  const { prices, size, transfer, window } = options;
  const defaultClass = options.storageClass ?? prices.defaultStorageClass;
  const klass = (name: string): StorageClassPrices => {
    const c = prices.storageClasses[name];
    if (!c) {
      throw new RangeError(
        `${prices.title} has no storage class ${name}; it has ${
          Object.keys(prices.storageClasses).join(", ")
        }`,
      );
    }
    return c;
  };
  klass(defaultClass);
  for (const c of Object.values(options.storageClasses ?? {})) klass(c!);
  const wStart = window.start.epochMilliseconds;
  const wEnd = window.end.epochMilliseconds;
  const wLen = Math.max(1, wEnd - wStart);
  const inWindow = (ms: number): boolean =>
    (ms > wStart || (window.includeStart && ms === wStart)) && ms <= wEnd;

  const live = new Map<string, _Live>();
  const storedNow = new Map<string, number>(); // bytes per class
  const byteMs = new Map<string, number>();
  let keys = 0;
  let last = wStart;
  const integrate = (to: number): void => {
    const a = Math.max(last, wStart);
    const b = Math.min(to, wEnd);
    if (b > a) {
      for (const [c, bytes] of storedNow) {
        byteMs.set(c, (byteMs.get(c) ?? 0) + bytes * (b - a));
      }
    }
    last = Math.max(last, to);
  };
  const counter = new _Counter();
  let worst: { chain: _Live[]; bytes: number } | undefined;
  const early = new Map<string, { backups: number; usd: number }>();
  const defaultPrices = klass(defaultClass);

  for (const run of runs) {
    const at = run.at.epochMilliseconds;
    integrate(at);
    const counted = inWindow(at);
    if (counted) {
      counter.add(
        "LIST",
        prices.list,
        Math.max(1, Math.ceil(keys / transfer.listPageSize)),
      );
    }
    for (const u of run.uploads) {
      const bytes = backupBytes(u, size);
      const shape = transfer.upload(bytes);
      const sc = storageClassFor(u, options.storageClasses, defaultClass);
      const p = klass(sc);
      // One PutObject carries its SHA-256 in its metadata: no manifest, no HEAD.
      const manifest = shape.multipartRequests > 0 || shape.objects.length > 1;
      live.set(u.uuid, {
        bytes,
        objects: shape.objects,
        manifest,
        storageClass: sc,
        uploadedAt: at,
        parentUuid: u.parentUuid,
        ctime: u.ctime,
      });
      storedNow.set(sc, (storedNow.get(sc) ?? 0) + bytes);
      keys += shape.objects.length + (manifest ? 1 : 0);
      if (!counted) continue;
      counter.add("PUT", p.upload, shape.puts);
      counter.add("multipart", p.upload, shape.multipartRequests);
      if (manifest) {
        counter.add("HEAD", p.read, shape.objects.length);
        counter.add("PUT", defaultPrices.upload, 1); // the manifest
      }
    }
    for (const uuid of run.deleted) {
      const b = live.get(uuid);
      if (!b) continue;
      live.delete(uuid);
      storedNow.set(b.storageClass, storedNow.get(b.storageClass)! - b.bytes);
      keys -= b.objects.length + (b.manifest ? 1 : 0);
      if (!counted) continue;
      // Its objects in DeleteObjects batches of 1,000, then its manifest.
      counter.add(
        "DELETE",
        prices.delete ?? "free",
        Math.ceil(b.objects.length / 1000) + 1,
      );
      const p = klass(b.storageClass);
      const lived = at - b.uploadedAt;
      if (p.minimumDays !== undefined && lived < p.minimumDays * _DAY_MS) {
        const e = early.get(b.storageClass) ?? { backups: 0, usd: 0 };
        e.backups++;
        e.usd += b.bytes / prices.gigabyte * p.perGbMonth.usd *
          (p.minimumDays * _DAY_MS - lived) / _MONTH_MS;
        early.set(b.storageClass, e);
      }
    }
    const newest = run.uploads.at(-1);
    if (counted && newest) {
      const chain = _chain(live, newest.uuid);
      const bytes = chain.reduce((n, b) => n + b.bytes, 0);
      if (!worst || bytes > worst.bytes) worst = { chain, bytes };
    }
  }
  integrate(wEnd);

  const scale = _MONTH_MS / wLen;
  const storage: StorageLine[] = [];
  let storedBytes = 0;
  for (const [c, ms] of byteMs) {
    const averageBytes = ms / wLen;
    if (averageBytes === 0 && (storedNow.get(c) ?? 0) === 0) continue;
    const p = klass(c);
    const gbMonths = averageBytes / prices.gigabyte;
    storage.push({
      storageClass: c,
      averageBytes,
      gbMonths,
      usd: Math.max(0, gbMonths - (p.freeGbMonths ?? 0)) * p.perGbMonth.usd,
    });
    storedBytes += averageBytes;
  }
  storage.sort((a, b) => b.averageBytes - a.averageBytes);
  const requests = counter.scaled(scale);
  const requestClasses = _priceRequests(prices, requests);
  const earlyDeletion = [...early].map(([storageClass, e]) => ({
    storageClass,
    backups: e.backups * scale,
    usd: e.usd * scale,
  }));
  const monthlyUsd = storage.reduce((s, l) => s + l.usd, 0) +
    requestClasses.reduce((s, l) => s + l.usd, 0) +
    earlyDeletion.reduce((s, l) => s + l.usd, 0);

  let newest: [string, _Live] | undefined;
  for (const e of live) {
    if (!newest || Temporal.Instant.compare(e[1].ctime, newest[1].ctime) > 0) {
      newest = e;
    }
  }
  const restoreOf = (chain: _Live[]): RestoreCost =>
    _restore(
      chain,
      options,
      requests,
      requestClasses,
      storedBytes,
      defaultPrices,
      klass,
    );
  const restore = newest ? restoreOf(_chain(live, newest[0])) : null;
  const fullBytes = Math.round(size.sourceBytes / size.compression);
  return {
    provider: prices.id,
    title: prices.title,
    source: prices.source,
    window: { ...window, days: wLen / _DAY_MS },
    fullBytes,
    storage,
    requests,
    requestClasses,
    earlyDeletion,
    egressUsd: 0,
    monthlyUsd,
    restore,
    worstRestore: worst ? restoreOf(worst.chain) : null,
    assumptions: [
      `a full backup is size / compression; a differential is the daily change × the days since its parent / compression, at most a full`,
      `one update run per tick; each lists the remote once per ${
        transfer.listPageSize.toLocaleString("en-US")
      } keys (a backup is its objects and, unless it is one PutObject, a manifest)`,
      transfer.describe,
      `a backup sent as one PutObject carries its SHA-256 in its metadata: no manifest, no HEAD; a larger one adds a manifest (one PUT, one GET on restore; its few bytes are not counted as storage) and one HEAD per object`,
      `deleting a backup is one DeleteObjects per 1,000 of its objects, then one for its manifest`,
      `a storage class holds a backup from the run that uploads it to the run that deletes it; early deletion is billed for the rest of the minimum duration`,
      `monthly figures are the window's averages and counts scaled to a ${MONTH_HOURS}-hour month; free allowances are taken from that month`,
      `a restore lists the remote once, then reads the newest snapshot's chain: per backup its manifest (if it has one), a HEAD per object and ranged GETs`,
      ...prices.notes,
    ],
  };
}

/** Dollars per request class for these request counts, after free allowances. */
function _priceRequests(
  prices: PriceTable,
  requests: readonly RequestLine[],
): RequestClassCost[] {
  const totals = new Map<string, number>();
  for (const r of requests) {
    totals.set(r.requestClass, (totals.get(r.requestClass) ?? 0) + r.count);
  }
  const out: RequestClassCost[] = [];
  const order = Object.keys(prices.requestClasses);
  const ids = [...totals.keys()].sort((a, b) =>
    order.indexOf(a) - order.indexOf(b)
  );
  for (const id of ids) {
    const count = totals.get(id)!;
    const rc = prices.requestClasses[id];
    if (!rc) continue; // retrieval requests are priced by their storage class
    const allowance = (rc.freePerMonth ?? 0) +
      (rc.freePerDay ?? 0) * MONTH_HOURS / 24;
    const free = Math.min(count, allowance);
    out.push({
      requestClass: id,
      title: rc.title,
      count,
      free,
      usd: (count - free) / 1000 * rc.per1000.usd,
    });
  }
  return out;
}

/** The backups a restore of `uuid` reads, newest first. */
function _chain(live: ReadonlyMap<string, _Live>, uuid: string): _Live[] {
  const chain: _Live[] = [];
  for (
    let b = live.get(uuid);
    b;
    b = b.parentUuid === null ? undefined : live.get(b.parentUuid)
  ) chain.push(b);
  return chain;
}

function _restore(
  chain: readonly _Live[],
  options: CostOptions,
  monthly: readonly RequestLine[],
  monthlyCost: readonly RequestClassCost[],
  storedBytes: number,
  defaultPrices: StorageClassPrices,
  klass: (c: string) => StorageClassPrices,
): RestoreCost {
  const { prices, transfer } = options;
  const counter = new _Counter();
  counter.add("LIST", prices.list, 1);
  let bytes = 0;
  let retrievalUsd = 0;
  let wait: { hours: number; text: string } | undefined;
  for (const b of chain) {
    const p = klass(b.storageClass);
    bytes += b.bytes;
    // The manifest, or for one PutObject its metadata, read with its HEAD.
    if (b.manifest) counter.add("GET", defaultPrices.read, 1);
    counter.add("HEAD", p.read, b.objects.length);
    counter.add("GET", p.read, transfer.rangedGets(b.objects));
    if (p.retrievalPer1000) {
      counter.add("RESTORE", "retrieval", b.objects.length);
      retrievalUsd += b.objects.length / 1000 * p.retrievalPer1000.usd;
    }
    if (p.retrievalPerGb) {
      retrievalUsd += b.bytes / prices.gigabyte * p.retrievalPerGb.usd;
    }
    if (p.retrievalWait && (!wait || p.retrievalWait.hours > wait.hours)) {
      wait = p.retrievalWait;
    }
  }
  const requests = counter.scaled(1);
  // What the restore adds to the month's bill: allowances go to the month first.
  const before = monthlyCost.reduce((s, l) => s + l.usd, 0);
  const after = _priceRequests(prices, [...monthly, ...requests])
    .reduce((s, l) => s + l.usd, 0);
  const freeEgress = (prices.egress.freeTimesStored ?? 0) * storedBytes;
  const egressUsd = Math.max(0, bytes - freeEgress) / prices.gigabyte *
    prices.egress.perGb.usd;
  const requestsUsd = after - before;
  return {
    ctime: chain[0].ctime,
    backups: chain.length,
    bytes,
    requests,
    egressUsd,
    requestsUsd,
    retrievalUsd,
    totalUsd: egressUsd + requestsUsd + retrievalUsd,
    downloadSeconds: bytes / options.restoreBytesPerSecond,
    retrievalWaitHours: wait?.hours ?? 0,
    ...(wait ? { retrievalWait: wait.text } : {}),
    bytesPerSecond: options.restoreBytesPerSecond,
  };
}
