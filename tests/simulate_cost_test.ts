import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { memoryOutput } from "../lib/app/output.ts";

const GiB = 2 ** 30;

async function run(
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const output = memoryOutput();
  const code = await main(["simulate", ...args], output);
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join("");
  return { code, out: text(output.stdout), err: text(output.stderr) };
}

/** Within a millionth of a cent. */
function near(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) < 1e-8,
    `${what}: ${actual}, worked out by hand ${expected}`,
  );
}

// One full and four dailies: "1m 2d", daily runs 2024-03-01 .. 03-05 (UTC),
// a 10 GiB source changing 1 GiB a day, compression 2.
//
// Planner (POLICY.md): 03-01 is March's monthly, a full; each later day is
// that day's daily with the monthly as parent; "2d" keeps two dailies, so
// 03-04 deletes 03-02 and 03-05 deletes 03-03.
//
// Sizes: full 10 / 2 = 5 GiB; a daily is 1 GiB × days since 03-01 / 2:
// 03-02 0.5 GiB, 03-03 1 GiB, 03-04 1.5 GiB, 03-05 2 GiB.
// Parts of 10 MiB (the default 80 MiB budget's part size): 512, 52, 103,
// 154, 205; each multipart upload is create + parts + complete:
// 514 + 54 + 105 + 156 + 207 = 1036.
//
// The policy's coarsest unit is a month, longer than the 4-day run, so the
// window is the whole run: 03-01 00:00 .. 03-05 00:00, 96 hours, every run
// counted. A month is 730 hours: scale = 730 / 96.
const SCALE = 730 / 96;
const CASE = [
  "--policy",
  "1m 2d",
  "--timezone",
  "UTC",
  "--start",
  "2024-03-01T00:00:00Z",
  "--end",
  "2024-03-05T00:00:00Z",
  "--every",
  "1d",
  "--size",
  "10",
  "--change",
  "1",
  "--compression",
  "2",
];

// Stored GiB-hours over the window: the full 5 × 96, 03-02 0.5 × 48 (until
// 03-04), 03-03 1 × 48 (until 03-05), 03-04 1.5 × 24, 03-05 2 × 0:
// 480 + 24 + 48 + 36 = 588; average 588 / 96 = 6.125 GiB.
const AVERAGE_GIB = (5 * 96 + 0.5 * 48 + 1 * 48 + 1.5 * 24 + 2 * 0) / 96;

// Requests in the window: 1036 multipart, 5 manifest PUTs, 5 LISTs (one per
// run, under 1,000 keys), 5 HEADs (one per object), DeleteObjects 2 per
// deleted backup (objects, manifest): 4, free on AWS.
const PUT_CLASS = 1036 + 5 + 5; // PUT, COPY, POST, LIST
const GET_CLASS = 5; // GET and all other: the HEADs

// Restore of 03-05: its chain is 03-05 (2 GiB) and the full (5 GiB), 7 GiB:
// 7 GiB / 8 MiB = 896 ranged GETs, 2 manifest GETs, 2 HEADs, 1 LIST.
const RESTORE_BYTES = 7 * GiB;
const RESTORE_GETS = 896 + 2 + 2;

interface CostJson {
  window: { start: string; end: string; days: number };
  storage: { storageClass: string; averageBytes: number; usd: number }[];
  requests: { kind: string; requestClass: string; count: number }[];
  requestClasses: { requestClass: string; count: number; usd: number }[];
  earlyDeletion: { storageClass: string; backups: number; usd: number }[];
  monthlyUsd: number;
  restore: {
    backups: number;
    bytes: number;
    egressUsd: number;
    requestsUsd: number;
    retrievalUsd: number;
    totalUsd: number;
    downloadSeconds: number;
  };
}

async function cost(extra: string[]): Promise<CostJson> {
  const r = await run([...CASE, ...extra, "--json"]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).cost;
}

function kindCount(c: CostJson, kind: string): number {
  return c.requests.filter((r) => r.kind === kind)
    .reduce((s, r) => s + r.count, 0);
}

Deno.test("simulate --price aws: one full and four dailies cost what the arithmetic says", async () => {
  const c = await cost(["--price", "aws"]);
  assert.equal(c.window.days, 4);
  assert.deepEqual(c.storage.map((s) => s.storageClass), ["STANDARD"]);
  near(c.storage[0].averageBytes / GiB, AVERAGE_GIB, "average GiB");
  // STANDARD $0.023 per GB-month (a GB is 2^30 bytes on AWS).
  const storageUsd = 6.125 * 0.023; // $0.140875
  near(c.storage[0].usd, storageUsd, "storage");
  near(kindCount(c, "multipart"), 1036 * SCALE, "multipart per month");
  near(kindCount(c, "LIST"), 5 * SCALE, "LIST per month");
  near(kindCount(c, "DELETE"), 4 * SCALE, "DELETE per month");
  // $0.005 per 1,000 PUT/LIST, $0.0004 per 1,000 GET/HEAD.
  const putUsd = PUT_CLASS * SCALE / 1000 * 0.005; // 5,018.75 → $0.02509375
  const getUsd = GET_CLASS * SCALE / 1000 * 0.0004; // 38.02 → $0.0000152
  near(
    c.requestClasses.reduce((s, r) => s + r.usd, 0),
    putUsd + getUsd,
    "requests",
  );
  near(c.monthlyUsd, storageUsd + putUsd + getUsd, "month"); // $0.18066
  assert.deepEqual(c.earlyDeletion, []);
  // Restore: egress 7 GB × $0.09; 900 GET-class and 1 LIST request.
  assert.equal(c.restore.backups, 2);
  assert.equal(c.restore.bytes, RESTORE_BYTES);
  near(c.restore.egressUsd, 7 * 0.09, "egress");
  near(
    c.restore.requestsUsd,
    RESTORE_GETS / 1000 * 0.0004 + 1 / 1000 * 0.005,
    "restore requests",
  );
  near(c.restore.totalUsd, 0.63 + 0.00036 + 0.000005, "restore");
  // At the default 100 Mbit/s = 12.5 MB/s.
  near(c.restore.downloadSeconds, RESTORE_BYTES / 12.5e6, "restore time");
});

Deno.test("simulate --price aws --storage-class STANDARD_IA: dailies deleted after 2 days pay the rest of 30", async () => {
  const c = await cost(["--price", "aws", "--storage-class", "STANDARD_IA"]);
  // STANDARD_IA $0.0125 per GB-month.
  near(c.storage[0].usd, 6.125 * 0.0125, "storage");
  // 03-02 (0.5 GiB) and 03-03 (1 GiB) each lived 48 hours of the 720 billed:
  // fee = GB × $0.0125 × 672 h / 730 h, in a 96-hour window scaled to 730.
  const fee = (0.5 + 1) * 0.0125 * (720 - 48) / 730 * SCALE; // $0.13125
  assert.equal(c.earlyDeletion.length, 1);
  near(c.earlyDeletion[0].backups, 2 * SCALE, "early deletions");
  near(c.earlyDeletion[0].usd, fee, "early deletion");
  // Uploads and manifests at the Standard-IA PUT price ($0.01 per 1,000),
  // LIST at Standard's, HEADs at Standard-IA's GET price ($0.001 per 1,000).
  const requests = (1036 + 5) * SCALE / 1000 * 0.01 +
    5 * SCALE / 1000 * 0.005 + 5 * SCALE / 1000 * 0.001;
  near(c.monthlyUsd, 6.125 * 0.0125 + requests + fee, "month");
  // Reading back 7 GB from Standard-IA adds $0.01 per GB.
  near(c.restore.retrievalUsd, 7 * 0.01, "retrieval");
  near(
    c.restore.requestsUsd,
    RESTORE_GETS / 1000 * 0.001 + 1 / 1000 * 0.005,
    "restore requests",
  );
});

Deno.test("simulate --price b2: storage only, the requests fit the daily allowance", async () => {
  const c = await cost(["--price", "b2"]);
  // $6 per TB-month, a GB being 10^9 bytes.
  const gb = AVERAGE_GIB * GiB / 1e9; // 6.5767 GB
  near(c.storage[0].usd, gb * 0.006, "storage");
  // 38 LISTs and 38 HEADs a month against 2,500 free per day of each.
  near(c.monthlyUsd, gb * 0.006, "month");
  // Egress 7.5 GB is under three times the 6.58 GB stored: free.
  assert.equal(c.restore.egressUsd, 0);
  assert.equal(c.restore.totalUsd, 0);
});

Deno.test("simulate --price prints the window, the month's total and the restore in text", async () => {
  const r = await run([...CASE, "--price", "aws"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /cost on Amazon S3, us-east-1/);
  assert.match(r.out, /checked 2026/);
  assert.match(
    r.out,
    /2024-03-01T00:00:00\+00:00 \.\. 2024-03-05T00:00:00\+00:00 \(4\.0 days\)/,
  );
  assert.match(r.out, /total +\$0\.1807/);
  assert.match(r.out, /a chain of 2 backups, 7\.0 GiB/);
  assert.match(r.out, /egress \$0\.6300/);
  assert.match(r.out, /time: 10 min at an assumed 100 Mbit\/s/);
  assert.match(r.out, /assumptions:/);
  assert.match(
    r.out,
    /warning: the simulation is shorter than the cost window/,
  );
});

Deno.test("simulate prints the history: uploads, fulls, deletes and the deepest chain per month", async () => {
  const r = await run([
    "--policy",
    "1m 2d",
    "--timezone",
    "UTC",
    "--start",
    "2024-02-28T00:00:00Z",
    "--end",
    "2024-03-03T00:00:00Z",
    "--every",
    "1d",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const h = JSON.parse(r.out).history;
  // February: 02-28 its monthly (full), 02-29 a daily on it. March: 03-01
  // March's monthly (full); 03-02 and 03-03 dailies on it; 03-02 deletes
  // 02-29 (no longer among the two dailies) and 02-28 (no longer needed).
  assert.deepEqual(
    h.months.map((m: Record<string, unknown>) => [
      m.month,
      m.runs,
      m.uploads,
      m.fulls,
      m.deletes,
      m.deepestChain,
    ]),
    [["2024-02", 2, 2, 1, 0, 2], ["2024-03", 3, 3, 1, 2, 2]],
  );
  assert.equal(h.deepestChain, 2);
  assert.equal(h.runs, 5);
});

Deno.test("simulate --every takes policy units and ISO durations alike", async () => {
  const base = [
    "--policy",
    "1d 6h",
    "--timezone",
    "UTC",
    "--start",
    "2024-01-01T00:00:00Z",
    "--end",
    "2024-01-02T00:00:00Z",
    "--json",
  ];
  const a = await run([...base, "--every", "6h"]);
  const b = await run([...base, "--every", "PT6H"]);
  assert.equal(a.code, 0, a.err);
  assert.deepEqual(JSON.parse(a.out), JSON.parse(b.out));
  assert.equal(JSON.parse(a.out).history.runs, 5);
  const bad = await run([...base, "--every", "6x"]);
  assert.equal(bad.code, 2);
  const zero = await run([...base, "--every", "0h"]);
  assert.equal(zero.code, 2);
  assert.match(zero.err, /--every 0h must be positive/);
  assert.match(
    bad.err,
    /--every "6x" is neither a duration in policy units \(1d, 6h, 30M, 10s/,
  );
});

Deno.test("simulate cost flags: bad input is exit 2 naming the flag", async () => {
  const base = CASE.slice(0, 10);
  const cases: [string[], RegExp][] = [
    [["--size", "10"], /--size only applies with --price aws\|r2\|b2/],
    [
      ["--price", "r3", "--size", "1", "--change", "1"],
      /--price "r3" is not a known price list \(did you mean r2\?\); use one of aws, r2, b2/,
    ],
    [
      ["--price", "aws"],
      /--price needs the source's size and daily change: --size GIB --change GIB_PER_DAY/,
    ],
    [
      ["--price", "aws", "--size", "-1", "--change", "1"],
      /--size "-1" is not a positive number/,
    ],
    [[
      "--price",
      "b2",
      "--size",
      "1",
      "--change",
      "1",
      "--storage-class",
      "GLACIER",
    ], /Backblaze B2 .* has no storage class "GLACIER"; it has STANDARD/],
    [[
      "--price",
      "aws",
      "--size",
      "1",
      "--change",
      "1",
      "--storage-classes",
      "y=GLACIER",
    ], /the policy "1m 2d" has no unit y/],
    [[
      "--price",
      "aws",
      "--size",
      "1",
      "--change",
      "1",
      "--storage-classes",
      "m=GLACER",
    ], /no storage class "GLACER" \(did you mean GLACIER\?\)/],
    [[
      "--price",
      "aws",
      "--size",
      "1",
      "--change",
      "1",
      "--restore-rate",
      "fast",
    ], /--restore-rate "fast" is not <number><unit>\/s/],
  ];
  for (const [extra, message] of cases) {
    const r = await run([...base, ...extra]);
    assert.equal(r.code, 2, `${extra.join(" ")}: ${r.err}`);
    assert.match(r.err, message);
  }
});

Deno.test("simulate --storage-classes puts the monthly full in GLACIER and the dailies in STANDARD", async () => {
  const c = await cost(["--price", "aws", "--storage-classes", "m=GLACIER"]);
  const by = Object.fromEntries(
    c.storage.map((s) => [s.storageClass, s.averageBytes / GiB]),
  );
  // The full (5 GiB, the whole window) in GLACIER; the dailies' 108 GiB-hours
  // (24 + 48 + 36) / 96 = 1.125 GiB in STANDARD.
  near(by.GLACIER, 5, "GLACIER");
  near(by.STANDARD, 1.125, "STANDARD");
  // The restore reads the full from GLACIER: a retrieval at $0.01/GB and
  // $0.05 per 1,000 requests, after a wait of hours.
  near(c.restore.retrievalUsd, 5 * 0.01 + 1 / 1000 * 0.05, "retrieval");
});
