import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { scheduleTicks, simulate } from "../lib/core/plan/simulate.ts";

interface SimJson {
  snapshots: string[];
  backups: { ctime: string; parent: string | null }[];
}

async function run(
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const output = memoryOutput();
  const code = await main(["simulate", ...args], output);
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join("");
  return { code, out: text(output.stdout), err: text(output.stderr) };
}

async function runJson(args: string[]): Promise<SimJson> {
  const r = await run([...args, "--json"]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

Deno.test("example 9: hourly runs for 10 days under 1w 2d 3h leave the week's full, two dailies and three hourlies", async () => {
  const j = await runJson([
    "--policy",
    "1w 2d 3h",
    "--timezone",
    "UTC",
    "--start",
    "2024-05-01T00:05:00Z",
    "--end",
    "2024-05-10T23:05:00Z",
    "--every",
    "PT1H",
  ]);
  const mon = "2024-05-06T00:05:00+00:00";
  const d9 = "2024-05-09T00:05:00+00:00";
  const d10 = "2024-05-10T00:05:00+00:00";
  const hours = ["21", "22", "23"].map((h) => `2024-05-10T${h}:05:00+00:00`);
  assert.deepEqual(j.snapshots, [mon, d9, d10, ...hours]);
  assert.deepEqual(j.backups, [
    { ctime: mon, parent: null },
    { ctime: d9, parent: mon },
    { ctime: d10, parent: mon },
    ...hours.map((h) => ({ ctime: h, parent: d10 })),
  ]);
});

Deno.test("example 10: every 6 h under 1y 3m 30d 24h in Los Angeles, January to the first of May", async () => {
  const j = await runJson([
    "--policy",
    "1y 3m 30d 24h",
    "--timezone",
    "America/Los_Angeles",
    "--start",
    "2024-01-01T00:00:00-08:00",
    "--end",
    "2024-05-01T00:00:00-07:00",
    "--every",
    "PT6H",
  ]);
  const jan1 = "2024-01-01T00:00:00-08:00";
  const mar1 = "2024-03-01T00:00:00-08:00";
  const apr1 = "2024-04-01T00:00:00-07:00";
  const dailies: string[] = [];
  for (let d = 2; d <= 30; d++) {
    dailies.push(`2024-04-${String(d).padStart(2, "0")}T00:00:00-07:00`);
  }
  const apr30 = dailies[dailies.length - 1];
  const hourlies = ["06", "12", "18"].map((h) => `2024-04-30T${h}:00:00-07:00`);
  // POLICY.md lists these 35; the final run's own snapshot (05-01 00:00, May's monthly,
  // sent against the yearly) is kept as well, as in example 9, so the tree has 36.
  const may1 = "2024-05-01T00:00:00-07:00";
  assert.deepEqual(j.snapshots, [
    jan1,
    mar1,
    apr1,
    ...dailies,
    ...hourlies,
    may1,
  ]);
  assert.deepEqual(j.backups, [
    { ctime: jan1, parent: null },
    { ctime: mar1, parent: jan1 },
    { ctime: apr1, parent: jan1 },
    ...dailies.map((d) => ({ ctime: d, parent: apr1 })),
    ...hourlies.map((h) => ({ ctime: h, parent: apr30 })),
    { ctime: may1, parent: jan1 },
  ]);
  assert.equal(j.snapshots.length, 36);
});

Deno.test("the human output shows the final tree, the number of objects and how many are full", async () => {
  const r = await run([
    "--policy",
    "1w 2d 3h",
    "--timezone",
    "UTC",
    "--start",
    "2024-05-01T00:05:00Z",
    "--end",
    "2024-05-10T23:05:00Z",
    "--every",
    "PT1H",
  ]);
  assert.equal(r.code, 0);
  assert.match(r.out, /240 runs/);
  assert.match(r.out, /6 snapshots, 6 backup objects \(1 full\)/);
  assert.match(
    r.out,
    /keep +2024-05-06T00:05:00\+00:00 +full +2024-W19 weekly/,
  );
  assert.match(r.out, /nothing to do/);
});

Deno.test("bad arguments name the flag and exit 2", async () => {
  const base = [
    "--policy",
    "1d",
    "--timezone",
    "UTC",
    "--start",
    "2024-01-01T00:00:00Z",
    "--end",
    "2024-01-02T00:00:00Z",
    "--every",
    "PT1H",
  ];
  const cases: [string[], RegExp][] = [
    [base.slice(2), /missing --policy/],
    [[...base.slice(0, 8)], /missing --every/],
    [[...base, "--bogus"], /bogus/],
    [base.map((a) => (a === "1d" ? "1d 1y" : a)), /--policy: .*"1y"/],
    [
      base.map((a) => (a === "UTC" ? "Nowhere/Land" : a)),
      /--timezone: unknown time zone/,
    ],
    [
      base.map((a) => (a === "2024-01-01T00:00:00Z" ? "2024-01-01" : a)),
      /--start "2024-01-01" is not an ISO-8601 instant/,
    ],
    [
      base.map((a) => (a === "2024-01-02T00:00:00Z" ? "tomorrow" : a)),
      /--end "tomorrow"/,
    ],
    [
      base.map((a) => (a === "PT1H" ? "1x" : a)),
      /--every "1x" is neither a duration in policy units .* nor an ISO-8601 duration/,
    ],
    [
      base.map((a) => (a === "PT1H" ? "PT0S" : a)),
      /--every PT0S must be positive/,
    ],
    [
      base.map((
        a,
      ) => (a === "2024-01-02T00:00:00Z" ? "2023-01-01T00:00:00Z" : a)),
      /--end is before --start/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, message);
    assert.equal(r.out, "");
  }
});

Deno.test("ticks step on the wall clock like cron: 6-hourly stays on 00/06/12/18 across DST", () => {
  const ticks = scheduleTicks(
    Temporal.Instant.from("2024-03-09T00:00:00-08:00"),
    Temporal.Instant.from("2024-03-11T00:00:00-07:00"),
    Temporal.Duration.from("PT6H"),
    "America/Los_Angeles",
  );
  const wall = ticks.map((t) =>
    t.toZonedDateTimeISO("America/Los_Angeles").hour
  );
  assert.deepEqual(wall, [0, 6, 12, 18, 0, 6, 12, 18, 0]);
  // Hourly: the skipped 02:00 runs at 03:00 once; the repeated 01:00 runs once.
  const spring = scheduleTicks(
    Temporal.Instant.from("2024-03-10T00:30:00-08:00"),
    Temporal.Instant.from("2024-03-10T04:30:00-07:00"),
    Temporal.Duration.from("PT1H"),
    "America/Los_Angeles",
  );
  assert.deepEqual(spring.map((t) => t.toString()), [
    "2024-03-10T08:30:00Z",
    "2024-03-10T09:30:00Z",
    "2024-03-10T10:30:00Z",
    "2024-03-10T11:30:00Z",
  ]);
});

Deno.test("simulate leaves a state whose next plan is empty, with no warnings", () => {
  const r = simulate({
    policy: "1m 2w 3d 4h",
    timeZone: "Australia/Lord_Howe",
    start: Temporal.Instant.from("2024-09-01T00:00:00+10:30"),
    end: Temporal.Instant.from("2024-10-20T00:00:00+11:00"),
    every: Temporal.Duration.from("PT3H"),
  });
  const sp = r.finalPlan.sources[0];
  assert.equal(sp.createSnapshot, null);
  assert.deepEqual([sp.uploads, sp.destroys, sp.deletes, sp.renames], [
    [],
    [],
    [],
    [],
  ]);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.snapshots.length, r.backups.length);
});
