import assert from "node:assert/strict";
import {
  type BackupKey,
  encodeKey,
  groupListing,
  MANIFEST_PREFIX,
  normalizeUuid,
  parseKey,
} from "../lib/core/keys.ts";
import { newSnapshotName, snapshotName } from "../lib/core/snapshot_names.ts";

const U = "11111111-2222-4333-8444-555555555555";
const P = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const S = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff";
const ZERO = "00000000-0000-0000-0000-000000000000";

const FIELDS: Record<string, string> = {
  ctim: "ctim2024-04-30T18:00:00-07:00",
  ctid: "ctid1234",
  uuid: `uuid${U}`,
  sndp: `sndp${P}`,
  prnt: `prnt${S}`,
  mdvn: "mdvn1",
  seqn: "seqn0",
};

function key(parts: Record<string, string | undefined>, tail = ""): string {
  return "home." +
    Object.keys(FIELDS).filter((k) => parts[k] !== undefined).map((k) =>
      parts[k]
    )
      .join(".") +
    tail;
}

function expectForeign(k: string, reason: RegExp): void {
  const r = parseKey(k);
  assert.equal(r.ok, false, `${k} parsed`);
  if (!r.ok) assert.match(r.reason, reason, k);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("a key encodes as btrfs2s3 writes it: name, metadata in order, then pipe suffixes", () => {
  const k = encodeKey({
    name: "home",
    ctime: Temporal.Instant.from("2024-05-01T01:00:00.75Z"),
    ctransid: 1234,
    uuid: U,
    sendParentUuid: null,
    sourceUuid: S,
    seqn: 0,
    suffixes: ["zst", "age"],
  }, "America/Los_Angeles");
  assert.equal(
    k,
    `home.ctim2024-04-30T18:00:00-07:00.ctid1234.uuid${U}.sndp${ZERO}.prnt${S}.mdvn1.seqn0.zst.age`,
  );
});

Deno.test("encode then parse returns the same fields for random keys in four zones", () => {
  const rand = mulberry32(42);
  const hex = () => Math.floor(rand() * 16).toString(16);
  const uuid = () =>
    [8, 4, 4, 4, 12].map((n) => Array.from({ length: n }, hex).join("")).join(
      "-",
    );
  const zones = [
    "UTC",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "America/Santiago",
  ];
  for (let i = 0; i < 500; i++) {
    const k: BackupKey = {
      name: ["home", "my.data", "root", ".hidden"][i % 4],
      ctime: Temporal.Instant.fromEpochMilliseconds(
        Math.floor(rand() * 2e12 / 1000) * 1000,
      ),
      ctransid: Math.floor(rand() * 1e9),
      uuid: uuid(),
      sendParentUuid: rand() < 0.3 ? null : uuid(),
      sourceUuid: uuid(),
      seqn: Math.floor(rand() * 3),
      suffixes: rand() < 0.5
        ? []
        : ["gz", "gpg"].slice(0, 1 + Math.floor(rand() * 2)),
    };
    const encoded = encodeKey(k, zones[i % 4]);
    const r = parseKey(encoded);
    assert.ok(r.ok, encoded);
    assert.equal(r.key.name, k.name);
    assert.ok(r.key.ctime.equals(k.ctime), encoded);
    assert.deepEqual({ ...r.key, ctime: 0 }, { ...k, ctime: 0 });
  }
});

Deno.test("the metadata suffixes parse in every one of their 5040 orders", () => {
  const codes = Object.keys(FIELDS);
  const perms: string[][] = [];
  const permute = (rest: string[], acc: string[]): void => {
    if (rest.length === 0) perms.push(acc);
    rest.forEach((c, i) =>
      permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, c])
    );
  };
  permute(codes, []);
  assert.equal(perms.length, 5040);
  for (const order of perms) {
    const k = `home.${order.map((c) => FIELDS[c]).join(".")}.zst`;
    const r = parseKey(k);
    assert.ok(r.ok, k);
    assert.equal(r.key.ctransid, 1234);
    assert.equal(r.key.uuid, U);
    assert.equal(r.key.sendParentUuid, P);
    assert.equal(r.key.sourceUuid, S);
    assert.equal(r.key.name, "home");
    assert.deepEqual(r.key.suffixes, ["zst"]);
    assert.equal(r.key.ctime.toString(), "2024-05-01T01:00:00Z");
  }
});

Deno.test("unknown suffixes are ignored and kept in key order; dots before the metadata are part of the name", () => {
  const r = parseKey(
    `my.data.${Object.values(FIELDS).join(".")}.gz.x-custom.age`,
  );
  assert.ok(r.ok);
  assert.equal(r.key.name, "my.data");
  assert.deepEqual(r.key.suffixes, ["gz", "x-custom", "age"]);
  const between = parseKey(
    `home.${FIELDS.ctim}.gz.${FIELDS.ctid}.${FIELDS.uuid}.${FIELDS.sndp}.${FIELDS.prnt}.${FIELDS.mdvn}.${FIELDS.seqn}`,
  );
  assert.ok(between.ok);
  assert.deepEqual(between.key.suffixes, ["gz"]);
});

Deno.test("only the last path component is read", () => {
  const r = parseKey(`some/prefix/${key(FIELDS)}`);
  assert.ok(r.ok);
  assert.equal(r.key.name, "home");
});

Deno.test("the zero uuid as send parent means a full backup", () => {
  const r = parseKey(key({ ...FIELDS, sndp: `sndp${ZERO}` }));
  assert.ok(r.ok);
  assert.equal(r.key.sendParentUuid, null);
});

Deno.test("uuids in the forms Python's uuid.UUID reads are normalised to lowercase 8-4-4-4-12", () => {
  assert.equal(normalizeUuid(U.toUpperCase()), U);
  assert.equal(normalizeUuid(`{${U}}`), U);
  assert.equal(normalizeUuid(`urn:uuid:${U}`), U);
  assert.equal(normalizeUuid(U.replace(/-/g, "")), U);
  assert.equal(normalizeUuid("1234"), null);
  assert.equal(normalizeUuid(`${U}0`), null);
  const r = parseKey(key({ ...FIELDS, uuid: `uuid${U.toUpperCase()}` }));
  assert.ok(r.ok);
  assert.equal(r.key.uuid, U);
});

Deno.test(".ctim is read in the ISO forms btrfs2s3 accepts; no offset means UTC", () => {
  const forms: [string, string][] = [
    ["2024-04-30T18:00:00-07:00", "2024-05-01T01:00:00Z"],
    ["2024-05-01T01:00:00+00:00", "2024-05-01T01:00:00Z"],
    ["2024-05-01T01:00:00Z", "2024-05-01T01:00:00Z"],
    ["2024-05-01T01:00:00", "2024-05-01T01:00:00Z"],
    ["20240501T010000Z", "2024-05-01T01:00:00Z"],
    ["2024-05-01T11:30:00+1030", "2024-05-01T01:00:00Z"],
    ["1849-12-31T16:07:02-07:52:58", "1850-01-01T00:00:00Z"],
  ];
  for (const [text, instant] of forms) {
    const r = parseKey(key({ ...FIELDS, ctim: `ctim${text}` }));
    assert.ok(r.ok, text);
    assert.equal(r.key.ctime.toString(), instant, text);
  }
});

Deno.test("each malformed key is foreign, with a reason", () => {
  for (const code of Object.keys(FIELDS)) {
    expectForeign(
      key({ ...FIELDS, [code]: undefined }),
      code === "mdvn" ? /no \.mdvn/ : new RegExp(`missing \\.${code}`),
    );
  }
  expectForeign(
    key({ ...FIELDS, ctim: "ctim2024-13-01T00:00:00Z" }),
    /malformed \.ctim/,
  );
  expectForeign(
    key({ ...FIELDS, ctim: "ctim2023-02-29T00:00:00Z" }),
    /malformed \.ctim/,
  );
  expectForeign(key({ ...FIELDS, ctim: "ctimyesterday" }), /malformed \.ctim/);
  expectForeign(
    key({ ...FIELDS, ctim: "ctim2024-05-01T25:00:00Z" }),
    /malformed \.ctim/,
  );
  expectForeign(key({ ...FIELDS, ctid: "ctid-5" }), /malformed \.ctid/);
  expectForeign(key({ ...FIELDS, ctid: "ctid12a" }), /malformed \.ctid/);
  expectForeign(key({ ...FIELDS, ctid: "ctid" }), /malformed \.ctid/);
  expectForeign(key({ ...FIELDS, uuid: "uuidnot-a-uuid" }), /malformed \.uuid/);
  expectForeign(key({ ...FIELDS, sndp: "sndp1234" }), /malformed \.sndp/);
  expectForeign(key({ ...FIELDS, prnt: "prnt" }), /malformed \.prnt/);
  expectForeign(
    key({ ...FIELDS, mdvn: "mdvn2" }),
    /unsupported metadata version/,
  );
  expectForeign(
    key({ ...FIELDS, mdvn: "mdvnx" }),
    /unsupported metadata version/,
  );
  expectForeign(key({ ...FIELDS, seqn: "seqnx" }), /malformed \.seqn/);
  expectForeign(key(FIELDS, ".ctid99"), /\.ctid appears twice/);
  expectForeign(key(FIELDS, "."), /ends with a dot/);
  expectForeign("", /empty/);
  expectForeign("photos/2024/", /empty/);
  expectForeign("notes.txt", /no \.mdvn/);
});

Deno.test("encoding refuses fields that would not parse back", () => {
  const base: BackupKey = {
    name: "home",
    ctime: Temporal.Instant.from("2024-05-01T00:00:00Z"),
    ctransid: 1,
    uuid: U,
    sendParentUuid: null,
    sourceUuid: S,
    seqn: 0,
    suffixes: [],
  };
  assert.throws(() => encodeKey({ ...base, name: "a/b" }, "UTC"), /name/);
  assert.throws(() => encodeKey({ ...base, name: "" }, "UTC"), /name/);
  assert.throws(
    () => encodeKey({ ...base, name: "x.uuidy" }, "UTC"),
    /metadata code/,
  );
  assert.throws(
    () => encodeKey({ ...base, suffixes: ["a.b"] }, "UTC"),
    /suffix/,
  );
  assert.throws(
    () => encodeKey({ ...base, suffixes: ["seqnish"] }, "UTC"),
    /suffix/,
  );
  assert.throws(() => encodeKey({ ...base, ctransid: -1 }, "UTC"), /ctransid/);
  assert.throws(() => encodeKey({ ...base, seqn: 1.5 }, "UTC"), /seqn/);
});

function objectKey(seqn: number, tail = ""): string {
  return key({ ...FIELDS, seqn: `seqn${seqn}` }, tail);
}

Deno.test("a listing groups objects differing only by .seqn into one backup, keys in seqn order", () => {
  const g = groupListing([
    { key: objectKey(2, ".zst"), size: 3, storageClass: "GLACIER" },
    { key: objectKey(0, ".zst"), size: 1, storageClass: "STANDARD" },
    { key: objectKey(1, ".zst"), size: 2, storageClass: "GLACIER" },
  ]);
  assert.equal(g.backups.length, 1);
  const b = g.backups[0];
  assert.deepEqual(b.keys, [
    objectKey(0, ".zst"),
    objectKey(1, ".zst"),
    objectKey(2, ".zst"),
  ]);
  assert.equal(b.size, 6);
  assert.equal(b.storageClass, "STANDARD");
  assert.equal(b.uuid, U);
  assert.equal(b.sendParentUuid, P);
  assert.equal(b.sourceUuid, S);
  assert.equal(b.ctransid, 1234);
  assert.deepEqual(b.suffixes, ["zst"]);
  assert.deepEqual(g.warnings, []);
});

Deno.test("a gap in .seqn makes the backup incomplete: warned about, neither a backup nor foreign", () => {
  const g = groupListing([{ key: objectKey(0) }, { key: objectKey(2) }]);
  assert.deepEqual(g.backups, []);
  assert.deepEqual(g.foreign, []);
  assert.equal(g.incomplete.length, 1);
  assert.match(g.incomplete[0].reason, /\.seqn1 is missing/);
  assert.equal(g.warnings.length, 1);
  const noFirst = groupListing([{ key: objectKey(1) }]);
  assert.match(noFirst.incomplete[0].reason, /\.seqn0 is missing/);
});

Deno.test("manifests are skipped silently; unparseable keys are foreign; size is unknown if any part's is", () => {
  const g = groupListing([
    { key: `${MANIFEST_PREFIX}${objectKey(0)}.json` },
    { key: "README.txt", size: 10 },
    { key: objectKey(0), size: 5 },
    { key: objectKey(0, ".gz") },
  ]);
  assert.deepEqual(g.foreign.map((f) => f.key), ["README.txt"]);
  assert.equal(g.backups.length, 2, "different suffixes are different backups");
  assert.equal(g.backups.find((b) => b.suffixes.length === 0)!.size, 5);
  assert.equal(g.backups.find((b) => b.suffixes.length === 1)!.size, undefined);
  assert.deepEqual(g.warnings, []);
});

Deno.test("snapshot names are <name>.<ctime ISO>.<ctransid> and <name>.NEW.<pid>", () => {
  const ctime = Temporal.Instant.from("2024-05-01T01:00:00.9Z");
  assert.equal(
    snapshotName("home", ctime, 77, "UTC"),
    "home.2024-05-01T01:00:00+00:00.77",
  );
  assert.equal(
    snapshotName("home", ctime, 77, "America/Los_Angeles"),
    "home.2024-04-30T18:00:00-07:00.77",
  );
  assert.equal(newSnapshotName("home", 4242), "home.NEW.4242");
});
