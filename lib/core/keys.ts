/**
 * Backup object key codec (btrfs2s3 metadata version 1) and grouping of a
 * remote listing into backups.
 *
 * A key is `<name>.ctim<ISO>.ctid<ctransid>.uuid<uuid>.sndp<uuid>.prnt<uuid>.mdvn1.seqn<n>`
 * followed by any pipe suffixes (`.zst`, `.age`). Metadata suffixes may come
 * in any order; unknown suffixes are kept aside; a key that does not parse is
 * foreign: never a backup, never deleted.
 *
 * @module
 */

import { type BackupInfo, type BackupKeyFields, ZERO_UUID } from "./types.ts";
import { daysFromCivil, formatIsoSeconds } from "./zone.ts";

/** Prefix of the transfer manager's checksum manifests: neither backups nor foreign. */
export const MANIFEST_PREFIX = "snap2s3-manifests/";

/** The metadata of one backup object key. */
export interface BackupKey extends BackupKeyFields {
  /** `.seqn`: index of this object among the backup's objects. */
  seqn: number;
}

/** Result of {@link parseKey}. */
export type ParsedKey =
  | { ok: true; key: BackupKey }
  | { ok: false; reason: string };

const _CODES = [
  "ctim",
  "ctid",
  "uuid",
  "sndp",
  "prnt",
  "mdvn",
  "seqn",
] as const;
type _Code = typeof _CODES[number];

/** The metadata codes a key's dot-parts start with; a name or pipe suffix must not start a dot-part with one. */
export const METADATA_CODES: readonly string[] = _CODES;

/**
 * What makes `name` unusable as the name part of a key, or null. A dot-part
 * of the name that starts with a metadata code would be read back as
 * metadata, so such a name is refused.
 *
 * @param name The source directory name.
 * @returns The problem, as words that follow the quoted name, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyNameProblem } from "./keys.ts";
 * assert.equal(keyNameProblem("web.data"), null);
 * assert.match(keyNameProblem("web.seqnX")!, /"\.seqnX" .* metadata code "seqn"/);
 * ```
 */
export function keyNameProblem(name: string): string | null {
  if (name === "") return "is empty";
  if (name.includes("/")) return 'contains "/"';
  if (name.endsWith(".")) return "ends with a dot";
  const part = name.split(".").slice(1).find((p) =>
    _CODES.includes(p.slice(0, 4) as _Code)
  );
  return part === undefined
    ? null
    : `has a dot-part ".${part}" that starts with the key metadata code "${
      part.slice(0, 4)
    }"`;
}

/**
 * Encode a backup key as btrfs2s3 does (metadata in its order, then the pipe
 * suffixes), `.ctim` in the given time zone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeKey, parseKey } from "./keys.ts";
 * const key = encodeKey({
 *   name: "home",
 *   ctime: Temporal.Instant.from("2024-05-01T01:00:00Z"),
 *   ctransid: 42,
 *   uuid: "11111111-2222-3333-4444-555555555555",
 *   sendParentUuid: null,
 *   sourceUuid: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
 *   seqn: 0,
 *   suffixes: ["zst"],
 * }, "America/Los_Angeles");
 * assert.ok(key.startsWith("home.ctim2024-04-30T18:00:00-07:00.ctid42.uuid1111"));
 * assert.ok(key.endsWith(".mdvn1.seqn0.zst"));
 * const parsed = parseKey(key);
 * assert.ok(parsed.ok && parsed.key.ctransid === 42);
 * ```
 * @throws {TypeError} when a field cannot be written into a key.
 */
export function encodeKey(key: BackupKey, timeZone: string): string {
  // Dots in the name are fine (parsing stops at the first metadata suffix) unless a part looks like metadata.
  const nameProblem = keyNameProblem(key.name);
  if (nameProblem !== null) {
    throw new TypeError(
      `backup name ${JSON.stringify(key.name)} ${nameProblem}`,
    );
  }
  for (
    const [what, v] of [
      ["uuid", key.uuid],
      ["sourceUuid", key.sourceUuid],
      ["sendParentUuid", key.sendParentUuid ?? ZERO_UUID],
    ] as const
  ) {
    if (v === "" || /[./]/.test(v)) {
      throw new TypeError(`${what} ${JSON.stringify(v)} cannot go in a key`);
    }
  }
  if (!Number.isSafeInteger(key.ctransid) || key.ctransid < 0) {
    throw new TypeError(
      `ctransid ${key.ctransid} must be a non-negative integer`,
    );
  }
  if (!Number.isSafeInteger(key.seqn) || key.seqn < 0) {
    throw new TypeError(`seqn ${key.seqn} must be a non-negative integer`);
  }
  for (const s of key.suffixes) {
    if (s === "" || /[./]/.test(s) || _CODES.includes(s.slice(0, 4) as _Code)) {
      throw new TypeError(
        `key suffix ${
          JSON.stringify(s)
        } must be non-empty, without "." or "/", and not start with a metadata code`,
      );
    }
  }
  const parts = [
    key.name,
    `ctim${formatIsoSeconds(key.ctime, timeZone)}`,
    `ctid${key.ctransid}`,
    `uuid${key.uuid}`,
    `sndp${key.sendParentUuid ?? ZERO_UUID}`,
    `prnt${key.sourceUuid}`,
    "mdvn1",
    `seqn${key.seqn}`,
    ...key.suffixes,
  ];
  return parts.join(".");
}

/**
 * Parse a backup object key (only its last `/` component is read). Suffix
 * order is free; unknown suffixes are returned in `suffixes`; anything
 * missing, repeated or malformed makes the key foreign.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKey } from "./keys.ts";
 * const r = parseKey(
 *   "home.seqn0.mdvn1.prntaaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" +
 *     ".sndp00000000-0000-0000-0000-000000000000.uuid11111111-2222-3333-4444-555555555555" +
 *     ".ctid42.ctim2024-04-30T18:00:00-07:00.gz",
 * );
 * assert.ok(r.ok && r.key.sendParentUuid === null && r.key.suffixes[0] === "gz");
 * assert.ok(!parseKey("notes.txt").ok);
 * ```
 */
export function parseKey(key: string): ParsedKey {
  const r = _parse(key);
  return r.ok ? { ok: true, key: r.key } : r;
}

type _Parsed =
  | { ok: true; key: BackupKey; groupId: string }
  | { ok: false; reason: string };

function _parse(fullKey: string): _Parsed {
  const slash = fullKey.lastIndexOf("/");
  const dir = fullKey.slice(0, slash + 1);
  const base = fullKey.slice(slash + 1);
  if (base === "") return { ok: false, reason: "empty name" };
  if (base.endsWith(".")) return { ok: false, reason: "name ends with a dot" };
  // Leading dots belong to the name, as in a Unix file name.
  const lead = /^\.*/.exec(base)![0];
  const parts = base.slice(lead.length).split(".");
  const nameParts = [lead + parts[0]];
  const suffixes: string[] = [];
  const values = new Map<_Code, string>();
  let seqnIndex = -1;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    const code = part.slice(0, 4) as _Code;
    if (part.length >= 4 && _CODES.includes(code)) {
      if (values.has(code)) {
        return { ok: false, reason: `metadata .${code} appears twice` };
      }
      values.set(code, part.slice(4));
      if (code === "seqn") seqnIndex = i;
    } else if (values.size === 0) {
      nameParts.push(part);
    } else {
      suffixes.push(part);
    }
  }
  const mdvn = values.get("mdvn");
  if (mdvn === undefined) {
    return { ok: false, reason: "no .mdvn metadata version (not a backup)" };
  }
  if (!/^[0-9]+$/.test(mdvn) || Number(mdvn) !== 1) {
    return {
      ok: false,
      reason: `unsupported metadata version .mdvn${mdvn} (only 1 is known)`,
    };
  }
  for (const code of _CODES) {
    if (!values.has(code)) {
      return { ok: false, reason: `missing .${code}` };
    }
  }
  const ctime = parseIsoInstant(values.get("ctim")!);
  if (ctime === null) {
    return {
      ok: false,
      reason: `malformed .ctim ${JSON.stringify(values.get("ctim"))}`,
    };
  }
  const ctransid = _parseUint(values.get("ctid")!);
  if (ctransid === null) {
    return {
      ok: false,
      reason: `malformed .ctid ${JSON.stringify(values.get("ctid"))}`,
    };
  }
  const seqn = _parseUint(values.get("seqn")!);
  if (seqn === null) {
    return {
      ok: false,
      reason: `malformed .seqn ${JSON.stringify(values.get("seqn"))}`,
    };
  }
  const uuids: Partial<Record<"uuid" | "sndp" | "prnt", string>> = {};
  for (const code of ["uuid", "sndp", "prnt"] as const) {
    const u = normalizeUuid(values.get(code)!);
    if (u === null) {
      return {
        ok: false,
        reason: `malformed .${code} ${JSON.stringify(values.get(code))}`,
      };
    }
    uuids[code] = u;
  }
  const groupParts = base.slice(lead.length).split(".");
  groupParts[seqnIndex] = "seqn*";
  return {
    ok: true,
    key: {
      name: nameParts.join("."),
      ctime,
      ctransid,
      uuid: uuids.uuid!,
      sendParentUuid: uuids.sndp === ZERO_UUID ? null : uuids.sndp!,
      sourceUuid: uuids.prnt!,
      seqn,
      suffixes,
    },
    groupId: dir + lead + groupParts.join("."),
  };
}

function _parseUint(s: string): number | null {
  if (!/^[0-9]+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Lowercase canonical form (8-4-4-4-12) of a uuid written as Python's
 * `uuid.UUID` accepts it (any case, braces, `urn:uuid:` prefix, dashes
 * anywhere), or null.
 */
export function normalizeUuid(s: string): string | null {
  const hex = s.replace(/^urn:/i, "").replace(/^uuid:/i, "").replace(
    /^\{(.*)\}$/,
    "$1",
  ).replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}

const _ISO_EXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/;
const _ISO_BASIC =
  /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(?:(\d{2})(?:(\d{2}))?)?)?(Z|z|[+-]\d{2}(?:\d{2}(?:\d{2})?)?)?$/;

/**
 * An ISO-8601 date-time as btrfs2s3 writes it in keys and snapshot names (no
 * fraction; no offset means UTC, as btrfs2s3 reads it), or null.
 */
export function parseIsoInstant(s: string): Temporal.Instant | null {
  const m = _ISO_EXT.exec(s) ?? _ISO_BASIC.exec(s);
  if (m === null) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  if (month < 1 || month > 12 || day < 1) return null;
  if (day > _daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetSec = 0;
  const off = m[7];
  if (off !== undefined && off !== "Z" && off !== "z") {
    const digits = off.slice(1).replace(/:/g, "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4) || 0);
    const os = Number(digits.slice(4, 6) || 0);
    if (oh > 23 || om > 59 || os > 59) return null;
    offsetSec = (off[0] === "-" ? -1 : 1) * (oh * 3600 + om * 60 + os);
  }
  const sec = daysFromCivil(year, month, day) * 86400 + hour * 3600 +
    minute * 60 + second - offsetSec;
  return Temporal.Instant.fromEpochMilliseconds(sec * 1000);
}

function _daysInMonth(year: number, month: number): number {
  return daysFromCivil(year, month + 1, 1) - daysFromCivil(year, month, 1);
}

/** One object of a remote listing. */
export interface ListedObject {
  /** Key relative to the remote's prefix. */
  key: string;
  /** Bytes, when the listing told. */
  size?: number;
  /** Storage class, when the listing told. */
  storageClass?: string;
  /** Last modification time, when the listing told. */
  lastModified?: Date;
}

/** A listing sorted into backups and the rest. */
export interface ListingGroups {
  /** Complete backups, sorted by ctransid, then first key. */
  backups: BackupInfo[];
  /** Keys that are not backups (never deleted), sorted, each with why. */
  foreign: { key: string; reason: string }[];
  /** Backups with a gap in `.seqn` or no `.seqn0`: not backups, never deleted automatically. */
  incomplete: { keys: string[]; reason: string }[];
  /** One per incomplete backup. */
  warnings: string[];
}

/**
 * Group a listing into backups: objects whose keys differ only by `.seqn`
 * form one backup, ordered by seqn; a gap makes it incomplete (warned, and
 * neither planned nor deleted). Keys under `snap2s3-manifests/` are skipped
 * silently; keys that do not parse are foreign.
 */
export function groupListing(objects: readonly ListedObject[]): ListingGroups {
  const foreign: { key: string; reason: string }[] = [];
  const groups = new Map<
    string,
    { key: BackupKey; object: ListedObject }[]
  >();
  for (const object of objects) {
    if (object.key.startsWith(MANIFEST_PREFIX)) continue;
    const r = _parse(object.key);
    if (!r.ok) {
      foreign.push({ key: object.key, reason: r.reason });
      continue;
    }
    const g = groups.get(r.groupId);
    if (g === undefined) groups.set(r.groupId, [{ key: r.key, object }]);
    else g.push({ key: r.key, object });
  }
  const backups: BackupInfo[] = [];
  const incomplete: { keys: string[]; reason: string }[] = [];
  const warnings: string[] = [];
  for (const members of groups.values()) {
    members.sort((a, b) =>
      a.key.seqn - b.key.seqn ||
      (a.object.key < b.object.key ? -1 : a.object.key > b.object.key ? 1 : 0)
    );
    const keys = members.map((m) => m.object.key);
    const problem = _seqnProblem(members.map((m) => m.key.seqn));
    if (problem !== null) {
      const reason =
        `${problem}; not treated as a backup and never deleted automatically`;
      incomplete.push({ keys, reason });
      warnings.push(`incomplete backup ${keys[0]}: ${reason}`);
      continue;
    }
    const first = members[0].key;
    const sizes = members.map((m) => m.object.size);
    const info: BackupInfo = {
      keys,
      name: first.name,
      ctime: first.ctime,
      ctransid: first.ctransid,
      uuid: first.uuid,
      sendParentUuid: first.sendParentUuid,
      sourceUuid: first.sourceUuid,
      suffixes: first.suffixes,
    };
    if (sizes.every((s) => typeof s === "number")) {
      info.size = (sizes as number[]).reduce((a, b) => a + b, 0);
    }
    const storageClass = members[0].object.storageClass;
    if (storageClass !== undefined) info.storageClass = storageClass;
    const modified = members[0].object.lastModified;
    if (modified !== undefined) {
      info.uploaded = Temporal.Instant.fromEpochMilliseconds(
        modified.getTime(),
      );
    }
    backups.push(info);
  }
  backups.sort((a, b) =>
    a.ctransid - b.ctransid || (a.keys[0] < b.keys[0] ? -1 : 1)
  );
  foreign.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  incomplete.sort((a, b) => (a.keys[0] < b.keys[0] ? -1 : 1));
  return { backups, foreign, incomplete, warnings };
}

function _seqnProblem(seqns: number[]): string | null {
  for (let i = 0; i < seqns.length; i++) {
    if (seqns[i] === i) continue;
    if (i > 0 && seqns[i] === seqns[i - 1]) {
      return `two objects with .seqn${seqns[i]}`;
    }
    return `object .seqn${i} is missing`;
  }
  return null;
}
