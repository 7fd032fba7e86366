import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import { planToJson, renderPlan } from "../lib/core/plan/preview.ts";
import { formatSize } from "../lib/core/format.ts";
import type { PlanInput } from "../lib/core/plan/plan.ts";
import type { BackupInfo, SnapshotRef } from "../lib/core/types.ts";
import { encodeKey } from "../lib/core/keys.ts";

const SOURCE_UUID = "ffffffff-0000-4000-8000-000000000000";
const uuid = (n: number): string =>
  `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

function snap(iso: string, ctransid: number): SnapshotRef {
  const ctime = Temporal.Instant.from(iso);
  // Ours, but not yet canonically named: kept ones are renamed.
  const path = `/snaps/home.NEW.${ctransid}`;
  return { uuid: uuid(ctransid), ctransid, ctime, path };
}

function backup(
  iso: string,
  ctransid: number,
  parent: number | null,
  size: number,
  keys = 1,
): BackupInfo {
  const ctime = Temporal.Instant.from(iso);
  const b: BackupInfo = {
    keys: [],
    name: "home",
    ctime,
    ctransid,
    uuid: uuid(ctransid),
    sendParentUuid: parent === null ? null : uuid(parent),
    sourceUuid: SOURCE_UUID,
    suffixes: ["zst"],
    size,
    storageClass: "DEEP_ARCHIVE",
  };
  for (let i = 0; i < keys; i++) {
    b.keys.push(encodeKey({ ...b, seqn: i }, "UTC"));
  }
  return b;
}

/** 2024 under 1y 1m 2d: yearly full 01-02, monthly 03-01, a daily; February and 2023 are doomed; a new snapshot today. */
function sample(): PlanInput {
  return {
    timeZone: "UTC",
    now: Temporal.Instant.from("2024-03-15T12:00:00Z"),
    sources: [{
      path: "/data/home",
      name: "home",
      uuid: SOURCE_UUID,
      ctransid: 50,
      ctime: Temporal.Instant.from("2024-03-15T11:00:00Z"),
      snapshotDir: "/snaps",
      snapshots: [
        snap("2024-01-02T00:00:00Z", 2),
        snap("2024-02-01T00:00:00Z", 3),
        snap("2024-03-01T00:00:00Z", 4),
        snap("2024-03-14T00:00:00Z", 5),
      ],
      remotes: [{
        id: "aws",
        preserve: "1y 1m 2d",
        keySuffixes: ["zst"],
        backups: [
          backup("2024-01-02T00:00:00Z", 2, null, 5 * 2 ** 30, 2),
          backup("2024-02-01T00:00:00Z", 3, 2, 1536),
          backup("2024-03-01T00:00:00Z", 4, 2, 12 * 2 ** 20),
          backup("2024-03-14T00:00:00Z", 5, 4, 100),
          backup("2023-06-01T00:00:00Z", 1, null, 3 * 2 ** 30),
        ],
      }],
    }],
  };
}

Deno.test("the preview lists each snapshot with what keeps it, or 'not keeping'", () => {
  const text = renderPlan(plan(sample()));
  const line = (needle: string): string =>
    text.split("\n").find((l) => l.includes(needle)) ?? "";
  assert.match(line("home.NEW.2 "), /keep .*2024 yearly/);
  assert.match(line("home.NEW.3 "), /destroy .*not keeping/);
  assert.match(line("home.NEW.4 "), /keep .*2024-03 monthly/);
  assert.match(line("home.NEW.5 "), /keep .*2024-03-14 daily/);
  assert.match(
    line("home.2024-03-15T11:00:00+00:00.50"),
    /create .*2024-03-15 daily, most recent/,
  );
});

Deno.test("the backup tree shows full backups with differential children indented, sizes and storage classes", () => {
  const text = renderPlan(plan(sample()));
  const lines = text.split("\n");
  const at = (iso: string): string =>
    lines.find((l) => l.includes(iso) && /full|diff/.test(l)) ?? "";
  // Column of the date: the status words have one width, so deeper means further right.
  const indent = (l: string): number => l.search(/\d/);
  const yearly = at("2024-01-02T00:00:00+00:00");
  assert.match(
    yearly,
    /keep +2024-01-02T00:00:00\+00:00 +full, 5\.0 GiB, DEEP_ARCHIVE, 2 objects +2024 yearly/,
  );
  const monthly = at("2024-03-01T00:00:00+00:00");
  assert.match(monthly, /diff, 12\.0 MiB, DEEP_ARCHIVE/);
  const daily = at("2024-03-14T00:00:00+00:00");
  const feb = at("2024-02-01T00:00:00+00:00");
  assert.match(feb, /delete .*diff, 1\.5 KiB.*not keeping/);
  assert.match(at("2023-06-01T00:00:00+00:00"), /delete .*full, 3\.0 GiB/);
  const upload = at("2024-03-15T11:00:00+00:00");
  assert.match(upload, /upload .*diff .*2024-03-15 daily, most recent/);
  assert.ok(indent(monthly) > indent(yearly));
  assert.ok(indent(daily) > indent(monthly));
  assert.equal(
    indent(upload),
    indent(daily),
    "today's daily is the monthly's child too",
  );
  assert.ok(
    lines.indexOf(daily) > lines.indexOf(monthly) &&
      lines.indexOf(monthly) > lines.indexOf(yearly),
  );
  assert.match(
    text,
    /Backups in aws: 3 kept, 1 to upload, 2 to delete \(3\.0 GiB\); 1 full after the run/,
  );
});

Deno.test("the preview lists the actions in the order they run", () => {
  const text = renderPlan(plan(sample()));
  const actions = text.slice(text.indexOf("Actions:")).split("\n").slice(1).map(
    (l) => l.trim(),
  )
    .filter((l) => l);
  assert.deepEqual(actions.map((a) => a.split(" ")[0]), [
    "create",
    "rename",
    "rename",
    "rename",
    "upload",
    "destroy",
    "delete",
    "delete",
  ]);
  assert.match(
    actions.find((a) => a.startsWith("upload"))!,
    /aws: home\.2024-03-15T11:00:00\+00:00\.50 differential from 2024-03-01T00:00:00\+00:00/,
  );
  assert.match(
    actions.find((a) => a.startsWith("delete") && a.includes("ctid1."))!,
    /ctim2023-06-01/,
  );
  assert.ok(actions.some((a) => /\+1 more objects/.test(a)) === false);
});

Deno.test("colour is off by default and on when asked", () => {
  const p = plan(sample());
  assert.ok(!renderPlan(p).includes("\x1b["));
  const coloured = renderPlan(p, { color: true });
  assert.ok(coloured.includes("\x1b[31mdestroy\x1b[0m"));
  assert.equal(
    coloured.replace(
      new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"),
      "",
    ),
    renderPlan(p),
  );
});

Deno.test("an empty plan says there is nothing to do", () => {
  const inp = sample();
  inp.sources[0].ctransid = 5;
  inp.sources[0].snapshots = [snap("2024-03-14T00:00:00Z", 5)];
  inp.sources[0].snapshots[0].path = "/snaps/home.2024-03-14T00:00:00+00:00.5";
  inp.sources[0].remotes[0].preserve = "";
  inp.sources[0].remotes[0].backups = [
    backup("2024-03-14T00:00:00Z", 5, null, 1),
  ];
  const text = renderPlan(plan(inp));
  assert.match(text, /nothing to do/);
});

Deno.test("planToJson turns instants into ISO strings with the zone's offset and keeps everything else", () => {
  const p = plan({ ...sample(), timeZone: "America/Los_Angeles" });
  const j = planToJson(p) as {
    now: string;
    sources: {
      createSnapshot: { ctime: string };
      backups: { kind: string; backup: { ctime: string } }[];
      uploads: unknown[];
    }[];
  };
  assert.equal(j.now, "2024-03-15T05:00:00-07:00");
  assert.equal(j.sources[0].createSnapshot.ctime, "2024-03-15T04:00:00-07:00");
  assert.equal(j.sources[0].backups[0].kind, "existing");
  assert.equal(
    j.sources[0].backups[0].backup.ctime,
    "2023-05-31T17:00:00-07:00",
  );
  assert.equal(j.sources[0].uploads.length, p.sources[0].uploads.length);
  const round = JSON.parse(JSON.stringify(j));
  assert.deepEqual(round, j);
});

Deno.test("sizes are human-readable in binary units", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(1023), "1023 B");
  assert.equal(formatSize(1536), "1.5 KiB");
  assert.equal(formatSize(5 * 2 ** 30), "5.0 GiB");
  assert.equal(formatSize(2 ** 50), "1.0 PiB");
});

Deno.test("the preview lists foreign snapshots, says repair for a re-upload and marks the broken backup", () => {
  const inp = sample();
  const src = inp.sources[0];
  src.snapshots.push({
    uuid: uuid(40),
    ctransid: 40,
    ctime: Temporal.Instant.from("2024-03-15T10:00:00Z"),
    path: "/snaps/before-upgrade",
  });
  // The daily of 03-14 was sent against a snapshot whose backup and snapshot are gone.
  src.remotes[0].backups = src.remotes[0].backups.map((b) =>
    b.ctransid === 5 ? backup("2024-03-14T00:00:00Z", 5, 99, 100) : b
  );
  const text = renderPlan(plan(inp));
  const lines = text.split("\n");
  assert.match(
    text,
    /Foreign snapshots \(not named by snap2s3: never renamed, destroyed or sent against\):\n +foreign before-upgrade\n/,
  );
  assert.ok(!lines.some((l) => /destroy .*before-upgrade/.test(l)));
  assert.ok(!lines.some((l) => /rename .*before-upgrade/.test(l)));
  assert.match(
    lines.find((l) =>
      l.startsWith("    upload  aws: home.2024-03-14T00:00:00+00:00.5 ")
    )!,
    /differential from .* \(repair\)$/,
  );
  assert.match(
    lines.find((l) => /repair +.*2024-03-14T00:00:00\+00:00/.test(l)) ?? "",
    /diff .*2024-03-14 daily/,
  );
  assert.match(
    lines.find((l) => /delete +.*2024-03-14T00:00:00\+00:00/.test(l)) ?? "",
    /broken chain: cannot be restored; deleted after the uploads/,
  );
});
