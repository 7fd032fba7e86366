/**
 * Preview of a Plan: what a user reads before saying yes. Text for a
 * terminal (optionally coloured) and plain JSON.
 *
 * @module
 */

import { UNIT_ADJECTIVES } from "../policy/grammar.ts";
import { Zone } from "../zone.ts";
import { formatSize } from "../format.ts";

import type {
  BackupVerdict,
  KeepReason,
  Plan,
  SourcePlan,
  Upload,
} from "./plan.ts";
import { verdictFacts } from "./plan.ts";
import { describeMassDeletion } from "./guards.ts";
import { baseName } from "../text.ts";

/** Options of {@link renderPlan}. */
export interface RenderOptions {
  /** ANSI colours (default false). */
  color?: boolean;
  /** The run may remove more than half of what a source has (`--allow-mass-delete`). */
  allowMassDelete?: boolean;
}

const _ANSI = {
  green: "\x1b[32m",
  red: "\x1b[31m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
  dim: "\x1b[2m",
  bold: "\x1b[1m",
  reset: "\x1b[0m",
} as const;

type _Style = Exclude<keyof typeof _ANSI, "reset">;

/**
 * Render a Plan for a terminal: per source, the snapshot to create, every
 * snapshot with what keeps it ("2024 yearly", "2024-03-15 daily", "most
 * recent", "not keeping"), the backup tree of each remote (full backups with
 * their differential children indented, sizes, storage classes), the actions
 * and the warnings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plan } from "./planner.ts";
 * import { renderPlan } from "./preview.ts";
 * const now = Temporal.Instant.from("2024-05-01T12:00:00Z");
 * const text = renderPlan(plan({
 *   timeZone: "UTC", now,
 *   sources: [{
 *     path: "/data/home", name: "home", uuid: "aaaaaaaa-0000-0000-0000-000000000001",
 *     ctransid: 10, ctime: now, snapshotDir: "/data/snaps", snapshots: [],
 *     remotes: [{ id: "s3", preserve: "1y", keySuffixes: [], backups: [] }],
 *   }],
 * }));
 * assert.ok(text.includes("2024 yearly"));
 * ```
 */
export function renderPlan(plan: Plan, options: RenderOptions = {}): string {
  const zone = Zone.get(plan.timeZone);
  const c = (style: _Style, s: string): string =>
    options.color ? `${_ANSI[style]}${s}${_ANSI.reset}` : s;
  const iso = (t: Temporal.Instant): string =>
    zone.formatIso(t.epochMilliseconds);
  const lines: string[] = [];
  lines.push(
    c("bold", `Plan at ${iso(plan.now)} (${plan.timeZone})`),
  );
  for (const src of plan.sources) {
    lines.push("", ..._renderSource(src, c, iso, options.allowMassDelete));
  }
  return lines.join("\n") + "\n";
}

function _renderSource(
  src: SourcePlan,
  c: (style: _Style, s: string) => string,
  iso: (t: Temporal.Instant) => string,
  allowMassDelete = false,
): string[] {
  const lines: string[] = [];
  const remotes = [...new Set(src.backups.map((b) => b.remoteId))];
  const multi = remotes.length > 1;
  lines.push(c("bold", `Source ${src.path} (${src.name})`));

  lines.push(`  Snapshots in ${src.snapshotDir}:`);
  if (src.snapshots.length === 0) lines.push(c("dim", "    (none)"));
  const pendingUuid = src.createSnapshot?.uuid;
  const nameWidth = Math.max(
    0,
    ...src.snapshots.map((v) => baseName(v.snapshot.path).length),
  );
  for (const v of src.snapshots) {
    const isNew = src.createSnapshot !== null &&
      v.snapshot.uuid === pendingUuid &&
      v.snapshot.path === src.createSnapshot.path;
    const status = isNew
      ? c("green", "create ")
      : v.keep
      ? c("green", "keep   ")
      : c("red", "destroy");
    const why = v.keep
      ? _describeReasons(v.reasons, multi) || "kept"
      : "not keeping";
    lines.push(
      `    ${status} ${baseName(v.snapshot.path).padEnd(nameWidth)}  ${
        c("dim", why)
      }`,
    );
  }

  if (src.foreign.length > 0) {
    lines.push(
      "  Foreign snapshots (not named by snap2s3: never renamed, destroyed or sent against):",
    );
    for (const s of src.foreign) {
      lines.push(`    ${c("cyan", "foreign")} ${baseName(s.path)}`);
    }
  }

  for (const remoteId of remotes) {
    const verdicts = src.backups.filter((b) => b.remoteId === remoteId);
    const full = verdicts.filter((v) =>
      v.keep && verdictFacts(v).sendParentUuid === null
    )
      .length;
    const kept = verdicts.filter((v) => v.keep).length;
    const uploads = verdicts.filter((v) => v.kind === "new").length;
    const doomed = verdicts.filter((v) => !v.keep && !v.lockedUntil);
    const locked = verdicts.filter((v) => !v.keep && v.lockedUntil).length;
    let freed = "";
    if (doomed.length > 0) {
      let bytes = 0;
      for (const v of doomed) {
        const size = v.kind === "existing" ? v.backup.size : undefined;
        if (size === undefined) {
          bytes = NaN;
          break;
        }
        bytes += size;
      }
      if (!Number.isNaN(bytes)) freed = ` (${formatSize(bytes)})`;
    }
    lines.push(
      `  Backups in ${remoteId}: ${
        kept - uploads
      } kept, ${uploads} to upload, ${doomed.length} to delete${freed}${
        locked ? `, ${locked} locked` : ""
      }; ${full} full after the run`,
    );
    lines.push(..._renderTree(verdicts, multi, c, iso, lockedUntil(src)));
  }

  lines.push("  Actions:");
  const actions: string[] = [];
  if (src.createSnapshot) {
    actions.push(`create snapshot ${src.createSnapshot.path}`);
  }
  for (const r of src.renames) actions.push(`rename ${r.from} -> ${r.to}`);
  for (const u of src.uploads) {
    actions.push(
      `upload  ${u.remoteId}: ${baseName(u.snapshot.path)} ${
        _uploadKind(u, iso)
      }${u.replacingNewer ? " (replacing newer)" : ""}${
        u.repair ? " (repair)" : ""
      }${u.storageClass ? ` as ${u.storageClass}` : ""}${
        u.lock ? `, locked until ${iso(u.lock.until)} (${u.lock.mode})` : ""
      }`,
    );
  }
  for (const r of src.retentions) {
    actions.push(
      `retain  ${r.remoteId}: ${r.backup.keys[0]} until ${
        iso(r.to.until)
      } (${r.to.mode}${r.from ? `, was until ${iso(r.from)}` : ", had none"})`,
    );
  }
  for (const s of src.destroys) actions.push(`destroy ${s.path}`);
  for (const d of src.deletes) {
    const more = d.backup.keys.length > 1
      ? ` (+${d.backup.keys.length - 1} more objects)`
      : "";
    actions.push(`delete  ${d.remoteId}: ${d.backup.keys[0]}${more}`);
  }
  for (const v of src.backups) {
    if (v.kind !== "existing" || v.keep || !v.lockedUntil) continue;
    actions.push(
      `keep    ${v.remoteId}: ${v.backup.keys[0]}: not deleting, locked until ${
        iso(v.lockedUntil)
      }`,
    );
  }
  if (actions.length === 0) lines.push(c("dim", "    nothing to do"));
  for (const a of actions) lines.push(`    ${a}`);
  lines.push(..._renderGuard(src, c, allowMassDelete));

  if (src.warnings.length > 0) {
    lines.push("  Warnings:");
    for (const w of src.warnings) lines.push(c("yellow", `    ! ${w}`));
  }
  return lines;
}

function _renderGuard(
  src: SourcePlan,
  c: (style: _Style, s: string) => string,
  allowed: boolean,
): string[] {
  if (src.massDeletions.length === 0) return [];
  const lines = [
    c(
      allowed ? "yellow" : "red",
      allowed
        ? "  Mass deletion, allowed by --allow-mass-delete:"
        : "  Mass-deletion guard: this run stops unless --allow-mass-delete is given:",
    ),
  ];
  for (const m of src.massDeletions) {
    lines.push(c(allowed ? "yellow" : "red", `    ${describeMassDeletion(m)}`));
  }
  lines.push(
    c(
      "dim",
      "    (what the policy no longer keeps at this time: expected after shortening a policy; otherwise check the clock and the config)",
    ),
  );
  return lines;
}

function _uploadKind(
  u: Upload,
  iso: (t: Temporal.Instant) => string,
): string {
  return u.parent === null
    ? "full"
    : `differential from ${iso(u.parent.ctime)}`;
}

/** When each backup's lock ends after the run (planned or extended), by verdict. */
function lockedUntil(
  src: SourcePlan,
): (v: BackupVerdict) => Temporal.Instant | undefined {
  const extended = new Map(
    src.retentions.map((r) => [`${r.remoteId}\0${r.backup.keys[0]}`, r.to]),
  );
  return (v) => {
    if (v.kind === "new") return v.upload.lock?.until;
    if (!v.keep) return v.lockedUntil;
    return extended.get(`${v.remoteId}\0${v.backup.keys[0]}`)?.until ??
      v.backup.retainUntil;
  };
}

function _renderTree(
  verdicts: BackupVerdict[],
  multi: boolean,
  c: (style: _Style, s: string) => string,
  iso: (t: Temporal.Instant) => string,
  until: (v: BackupVerdict) => Temporal.Instant | undefined,
): string[] {
  if (verdicts.length === 0) return [c("dim", "    (none)")];
  const byUuid = new Map<string, BackupVerdict>();
  for (const v of verdicts) {
    if (!byUuid.has(verdictFacts(v).uuid)) {
      byUuid.set(verdictFacts(v).uuid, v);
    }
  }
  const children = new Map<string, BackupVerdict[]>();
  const roots: { v: BackupVerdict; note: string }[] = [];
  const order = (a: BackupVerdict, b: BackupVerdict): number =>
    verdictFacts(a).ctransid - verdictFacts(b).ctransid;
  for (const v of verdicts) {
    const p = verdictFacts(v).sendParentUuid;
    if (p === null) roots.push({ v, note: "" });
    else if (!byUuid.has(p)) roots.push({ v, note: " (parent missing)" });
    else {
      const list = children.get(p);
      if (list === undefined) children.set(p, [v]);
      else list.push(v);
    }
  }
  const lines: string[] = [];
  const seen = new Set<BackupVerdict>();
  const walk = (v: BackupVerdict, depth: number, note: string): void => {
    if (seen.has(v)) return;
    seen.add(v);
    lines.push(_renderBackup(v, depth, note, multi, c, iso, until(v)));
    // Only the first verdict of a uuid carries the children (duplicates are warned about).
    if (byUuid.get(verdictFacts(v).uuid) !== v) return;
    for (
      const child of (children.get(verdictFacts(v).uuid) ?? []).sort(order)
    ) {
      walk(child, depth + 1, "");
    }
  };
  for (const r of roots.sort((a, b) => order(a.v, b.v))) walk(r.v, 0, r.note);
  // Whatever is left hangs in a cycle of send parents: show it rather than hide it.
  for (const v of verdicts) walk(v, 0, " (send-parent cycle)");
  return lines;
}

function _renderBackup(
  v: BackupVerdict,
  depth: number,
  note: string,
  multi: boolean,
  c: (style: _Style, s: string) => string,
  iso: (t: Temporal.Instant) => string,
  lockedUntil: Temporal.Instant | undefined,
): string {
  const status = v.kind === "new"
    ? c("green", v.flags.includes("repair") ? "repair" : "upload")
    : v.keep
    ? c("green", "keep  ")
    : v.lockedUntil
    ? c("yellow", "locked")
    : c("red", "delete");
  const kind = verdictFacts(v).sendParentUuid === null ? "full" : "diff";
  const details: string[] = [kind];
  if (v.kind === "existing") {
    if (v.backup.size !== undefined) details.push(formatSize(v.backup.size));
    if (v.backup.storageClass) details.push(v.backup.storageClass);
    if (v.backup.keys.length > 1) {
      details.push(`${v.backup.keys.length} objects`);
    }
  } else if (v.upload.storageClass) details.push(v.upload.storageClass);
  if (lockedUntil) details.push(`locked until ${iso(lockedUntil)}`);
  const flags = v.flags.filter((f) => !["new", "repair", "broken"].includes(f))
    .map((f) => f.replace(/-/g, " "));
  let why = v.flags.includes("broken")
    ? "broken chain: cannot be restored; deleted after the uploads"
    : v.keep
    ? _describeReasons(v.reasons, multi) || "kept"
    : "not keeping";
  const extra = flags.filter((f) => !why.includes(f));
  if (extra.length > 0) why += ` (${extra.join(", ")})`;
  return `    ${status} ${"  ".repeat(depth)}${iso(verdictFacts(v).ctime)}  ${
    details.join(", ")
  }${note}  ${c("dim", why)}`;
}

/** "2024 yearly, 2024-03-15 daily, most recent". */
function _describeReasons(
  reasons: readonly KeepReason[],
  multi: boolean,
): string {
  const out: string[] = [];
  for (const r of reasons) {
    let s: string;
    switch (r.kind) {
      case "interval":
        s = `${r.label} ${UNIT_ADJECTIVES[r.unit]}`;
        break;
      case "no-snapshot":
        s = r.unit && r.label
          ? `${r.label} ${UNIT_ADJECTIVES[r.unit]} (no snapshot)`
          : "no snapshot";
        break;
      case "snapshot-is-newer":
        s = r.unit && r.label
          ? `${r.label} ${UNIT_ADJECTIVES[r.unit]} (snapshot is newer)`
          : "snapshot is newer";
        break;
      case "most-recent":
        s = "most recent";
        break;
      case "ancestor":
        s = "ancestor";
        break;
    }
    if (multi && r.remoteId) s += ` [${r.remoteId}]`;
    if (!out.includes(s)) out.push(s);
  }
  return out.join(", ");
}

/**
 * The Plan as plain JSON-able data: Temporal instants become ISO-8601
 * strings with seconds and the plan's zone offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planToJson } from "./preview.ts";
 * const j = planToJson({
 *   timeZone: "UTC", now: Temporal.Instant.from("2024-05-01T12:00:00Z"), sources: [],
 * }) as { now: string };
 * assert.ok(j.now === "2024-05-01T12:00:00+00:00");
 * ```
 */
export function planToJson(plan: Plan): unknown {
  const zone = Zone.get(plan.timeZone);
  const convert = (v: unknown): unknown => {
    if (v instanceof Temporal.Instant) {
      return zone.formatIso(v.epochMilliseconds);
    }
    if (Array.isArray(v)) return v.map(convert);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = convert(x);
      return out;
    }
    return v;
  };
  return convert(plan);
}
