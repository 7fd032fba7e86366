/**
 * Restore's selection (pure): source groups by `.prnt`, the live uuid or the
 * one same-named source, explicit and prefixed uuids, `latest`, broken
 * chains reported while the rest restores.
 */
import assert from "node:assert/strict";
import {
  describeBrokenChain,
  parseRestoreTarget,
  type RestoreSelection,
  SelectionError,
  type SelectionInput,
  selectRestore,
  type SourceSpec,
  summarizeRemote,
} from "../lib/core/restore_selection.ts";
import type { BackupInfo } from "../lib/core/types.ts";
import { encodeKey } from "../lib/core/keys.ts";

const SRC_A = "aaaaaaaa-0000-4000-8000-00000000000a";
const SRC_B = "bbbbbbbb-0000-4000-8000-00000000000b";
const SRC_C = "cccccccc-0000-4000-8000-00000000000c";

function snap(n: number, src = SRC_A): string {
  return `${src.slice(0, 2)}${
    String(n).padStart(6, "0")
  }-1111-4111-8111-111111111111`;
}

/** A backup of snapshot n of `src`, sent against snapshot `parent` (or full). */
function backup(
  n: number,
  parent: number | null,
  src = SRC_A,
  name = "data",
): BackupInfo {
  const info = {
    name,
    ctime: Temporal.Instant.from("2024-05-01T00:00:00Z").add({ hours: n }),
    ctransid: 100 + n,
    uuid: snap(n, src),
    sendParentUuid: parent === null ? null : snap(parent, src),
    sourceUuid: src,
    seqn: 0,
    suffixes: [],
  };
  return { ...info, keys: [encodeKey(info, "UTC")] };
}

function input(
  backups: BackupInfo[],
  over: Partial<SelectionInput> = {},
): SelectionInput {
  return {
    remote: "nas",
    backups,
    sources: [{ path: "/src/data", name: "data", liveUuid: SRC_A }],
    target: { kind: "all" },
    timeZone: "UTC",
    ...over,
  };
}

function uuids(sel: RestoreSelection): string[][] {
  return sel.sources.map((s) => s.backups.map((b) => b.uuid));
}

function rejects(
  fn: () => unknown,
  kind: SelectionError["kind"],
  message: RegExp,
): void {
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof SelectionError && e.kind === kind && message.test(e.message),
  );
}

// A chain 1 <- 2 <- 3, a second full 4 <- 5.
const TREE = [
  backup(1, null),
  backup(2, 1),
  backup(3, 2),
  backup(4, null),
  backup(5, 4),
];

Deno.test("the live source's uuid selects its backups, parents before children", () => {
  const other = backup(9, null, SRC_B);
  const sel = selectRestore(input([...TREE, other]));
  assert.deepEqual(uuids(sel), [[1, 2, 3, 4, 5].map((n) => snap(n))]);
  assert.equal(sel.sources[0].sourceUuid, SRC_A);
  assert.equal(sel.sources[0].path, "/src/data");
  assert.match(sel.sources[0].why, /uuid of \/src\/data now/);
  assert.deepEqual(sel.sources[0].broken, []);
});

Deno.test("a recreated or absent source takes the one same-named source in the remote, saying so", () => {
  for (const liveUuid of [SRC_C, null]) {
    const sel = selectRestore(input(TREE, {
      sources: [{ path: "/src/data", name: "data", liveUuid }],
    }));
    assert.equal(sel.sources[0].sourceUuid, SRC_A);
    assert.match(
      sel.sources[0].why,
      liveUuid
        ? /only source named data in remote nas \(\/src\/data has a new uuid, cccccccc/
        : /only source named data in remote nas \(\/src\/data does not exist\)/,
    );
    assert.equal(sel.sources[0].backups.length, 5);
  }
});

Deno.test("two same-named sources are refused, each listed with its newest backup", () => {
  const b = [...TREE, backup(7, null, SRC_B), backup(8, 7, SRC_B)];
  rejects(
    () =>
      selectRestore(input(b, {
        sources: [{ path: "/src/data", name: "data", liveUuid: null }],
      })),
    "ambiguous",
    new RegExp(
      `2 sources named data .*${SRC_A} \\(5 backup\\(s\\), newest 2024-05-01T05:00:00\\+00:00\\), ${SRC_B} \\(2 backup\\(s\\), newest 2024-05-01T08:00:00\\+00:00\\).*--source`,
    ),
  );
  // Without a config the same.
  rejects(
    () => selectRestore(input(b, { sources: null })),
    "ambiguous",
    /2 sources named data/,
  );
  // --source with a source uuid (prefix) or a snapshot uuid chooses.
  const bySource = selectRestore(
    input(b, { sources: null, source: "bbbbbbbb" }),
  );
  assert.deepEqual(uuids(bySource), [[snap(7, SRC_B), snap(8, SRC_B)]]);
  const bySnap = selectRestore(input(b, {
    sources: [{ path: "/src/data", name: "data", liveUuid: null }],
    target: parseRestoreTarget(snap(8, SRC_B)),
  }));
  assert.deepEqual(uuids(bySnap), [[snap(7, SRC_B), snap(8, SRC_B)]]);
  assert.match(bySnap.sources[0].why, /snapshot .* was asked for/);
  // --source by name is still ambiguous.
  rejects(
    () => selectRestore(input(b, { source: "data", sources: null })),
    "ambiguous",
    /--source <source uuid>/,
  );
  // ...unless the configured source is live with backups.
  const live = selectRestore(input(b, { source: "/src/data" }));
  assert.equal(live.sources[0].sourceUuid, SRC_A);
});

Deno.test("without a config every source in the remote is selected when names are unique", () => {
  const b = [...TREE, backup(7, null, SRC_B, "home")];
  const sel = selectRestore(input(b, { sources: null }));
  assert.deepEqual(sel.sources.map((s) => s.name), ["data", "home"]);
  assert.ok(sel.sources.every((s) => s.path === null));
});

Deno.test("an explicit snapshot or source uuid works whatever the config; 8-digit prefixes, with or without dashes", () => {
  const b = [...TREE, backup(7, null, SRC_B, "home")];
  const none: SourceSpec[] = [];
  // Snapshot 3 of data: its chain only.
  const s3 = selectRestore(input(b, {
    sources: none,
    target: parseRestoreTarget(snap(3).slice(0, 8)),
  }));
  assert.deepEqual(uuids(s3), [[snap(1), snap(2), snap(3)]]);
  const dashless = selectRestore(input(b, {
    target: parseRestoreTarget(
      snap(3).replaceAll("-", "").slice(0, 12).toUpperCase(),
    ),
  }));
  assert.deepEqual(uuids(dashless), uuids(s3));
  // A source uuid: all of that source, although the config names another.
  const home = selectRestore(input(b, { target: parseRestoreTarget(SRC_B) }));
  assert.deepEqual(uuids(home), [[snap(7, SRC_B)]]);
  assert.match(home.sources[0].why, /source bbbbbbbb.* was asked for/);
});

Deno.test("uuid arguments: too short or not hex is bad input, ambiguous asks for more digits, unknown is not found and says what the remote holds", () => {
  rejects(
    () => parseRestoreTarget("aa00000"),
    "bad-input",
    /at least 8 hex digits/,
  );
  rejects(
    () => parseRestoreTarget("newest"),
    "bad-input",
    /neither "latest" nor a uuid/,
  );
  // snap(1) and snap(2) share the prefix "aa00000".
  rejects(
    () =>
      selectRestore(input(TREE, { target: parseRestoreTarget("aa00000-") })),
    "bad-input",
    /too short/,
  );
  const ambiguous = [backup(1, null), {
    ...backup(2, 1),
    uuid: snap(1).slice(0, 9) + "2222-4111-8111-111111111111",
  }];
  rejects(
    () =>
      selectRestore(
        input(ambiguous, { target: parseRestoreTarget(snap(1).slice(0, 8)) }),
      ),
    "ambiguous",
    /matches snapshot .*, snapshot .*: give more digits/,
  );
  rejects(
    () =>
      selectRestore(input(TREE, { target: parseRestoreTarget("deadbeef") })),
    "not-found",
    new RegExp(
      `no snapshot or source with uuid deadbeef in remote nas; remote nas holds: data from source ${SRC_A} \\(5 backup\\(s\\), newest 2024-05-01T05:00:00\\+00:00\\)`,
    ),
  );
});

Deno.test("latest restores the newest restorable snapshot and its chain only", () => {
  const b = [
    ...TREE,
    backup(7, null, SRC_B, "home"),
    backup(8, 7, SRC_B, "home"),
  ];
  const sel = selectRestore(
    input(b, { sources: null, target: { kind: "latest" } }),
  );
  assert.deepEqual(uuids(sel), [
    [snap(4), snap(5)],
    [snap(7, SRC_B), snap(8, SRC_B)],
  ]);
  // The newest is broken (its parent is gone): latest is the newest that can be restored, and the broken one is named.
  const gone = [...TREE.filter((x) => x.uuid !== snap(4)), backup(6, 4)]
    .filter((x) => x.uuid !== snap(5));
  const sel2 = selectRestore(input(gone, { target: { kind: "latest" } }));
  assert.deepEqual(uuids(sel2), [[snap(1), snap(2), snap(3)]]);
  assert.deepEqual(sel2.sources[0].broken.map((c) => c.missingUuid), [snap(4)]);
});

Deno.test("a chain with a missing or incomplete ancestor is reported broken, the rest restores", () => {
  // Middle backup 2 missing: 3 cannot be restored; 1, 4, 5 can.
  const b = TREE.filter((x) => x.uuid !== snap(2));
  const sel = selectRestore(input(b));
  assert.deepEqual(uuids(sel), [[snap(1), snap(4), snap(5)]]);
  const [chain] = sel.sources[0].broken;
  assert.equal(chain.missingUuid, snap(2));
  assert.match(
    chain.reason,
    /backup of snapshot aa000002.* is missing from the remote/,
  );
  assert.deepEqual(chain.backups.map((x) => x.uuid), [snap(3)]);
  assert.match(
    describeBrokenChain(sel.sources[0], chain, "UTC"),
    /^data \(source aaaaaaaa.*\): 1 backup\(s\) cannot be restored, the backup of snapshot .* is missing from the remote: 2024-05-01T03:00:00\+00:00 \(uuid aa000003/,
  );
  // Incomplete in the remote: said so.
  const incomplete = [{
    keys: [backup(2, 1).keys[0]],
    reason: "object .seqn0 is missing",
  }];
  const sel2 = selectRestore(input(b, { incomplete }));
  assert.match(
    sel2.sources[0].broken[0].reason,
    /is incomplete \(object .seqn0 is missing\)/,
  );
  // Everything below a missing full backup is one broken chain.
  const noRoot = TREE.filter((x) => x.uuid !== snap(1));
  const sel3 = selectRestore(input(noRoot));
  assert.deepEqual(
    sel3.sources[0].broken.map((c) => [c.missingUuid, c.backups.length]),
    [[snap(1), 2]],
  );
  // An explicitly asked snapshot with a broken chain: nothing to receive, the chain named.
  const sel4 = selectRestore(input(b, { target: parseRestoreTarget(snap(3)) }));
  assert.deepEqual(uuids(sel4), [[]]);
  assert.equal(sel4.sources[0].broken[0].missingUuid, snap(2));
});

Deno.test("a snapshot backed up twice (full and differential) is received once, by its shortest chain", () => {
  const b = [...TREE, { ...backup(3, null), keys: ["data.full3"] }];
  const sel = selectRestore(input(b));
  const received = sel.sources[0].backups;
  assert.deepEqual(
    received.map((x) => x.uuid),
    [1, 2, 3, 4, 5].map((n) => snap(n)),
  );
  assert.equal(received[2].sendParentUuid, null);
});

Deno.test("a chain that loops is broken, not followed forever", () => {
  const b = [backup(1, 2), backup(2, 1)];
  const sel = selectRestore(input(b));
  assert.deepEqual(uuids(sel), [[]]);
  assert.match(sel.sources[0].broken[0].reason, /loops back/);
});

Deno.test("a configured source with no backups is unmatched; none at all is not found with what the remote holds", () => {
  const sources = [
    { path: "/src/data", name: "data", liveUuid: SRC_A },
    { path: "/src/www", name: "www", liveUuid: null },
  ];
  const sel = selectRestore(input(TREE, { sources }));
  assert.deepEqual(sel.unmatched.map((s) => s.path), ["/src/www"]);
  rejects(
    () => selectRestore(input(TREE, { sources: [sources[1]] })),
    "not-found",
    /^no backups of \/src\/www in remote nas; remote nas holds: data from source aaaaaaaa/,
  );
  rejects(
    () => selectRestore(input([], { sources: null })),
    "not-found",
    /remote nas holds no backups/,
  );
  assert.equal(
    summarizeRemote({ remote: "x", backups: [], timeZone: "UTC" }),
    "remote x holds no backups",
  );
});
