/**
 * Transfer benchmark: backs up a `btrfs send` stream of a snapshot of random
 * data (default 1.5 GiB) to a Ceph RGW (bluestore) and restores it with
 * `btrfs receive`, with snap2s3's drivers (as `update` and `restore` use
 * them), `aws s3 cp` and `rclone rcat`/`cat`, in one run, rounds in
 * alternating order, and prints one side-by-side table.
 *
 *   deno run -P=test bench/transfer_bench.ts [--size-mib 1536] [--rounds 2]
 *        [--store bluestore|memstore] [--memory-mib 80] [--budgets 64,128,256]
 *        [--part-mib 10] [--concurrency 7] [--only snap2s3] [--http fetch|node]
 *        [--checksum md5|sha256|signed-sha256] [--hash-worker]
 *
 * Upload: `btrfs send <snapshot> | tool`; snap2s3 runs `btrfs send` itself.
 * Restore: `tool | btrfs receive <dir>`; snap2s3 runs `btrfs receive` itself
 * and checks the manifest's SHA-256. `--budgets` adds snap2s3 rows with
 * those memory budgets (memory_mib). Peak RSS: VmHWM of our process; the
 * peers' maximum resident set from GNU time; neither counts btrfs. CPU: user
 * + system seconds of the tool itself (not btrfs), and of the Ceph daemons
 * (they share the machine). Needs root (Ceph, btrfs).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startS3Server } from "../tests/fixtures/s3_server.ts";
import { run } from "../tests/fixtures/process.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { uploadStream } from "../lib/drivers/transfer/upload.ts";
import { downloadStream } from "../lib/drivers/transfer/download.ts";
import { send } from "../lib/drivers/btrfs/send.ts";
import { receive } from "../lib/drivers/btrfs/receive.ts";
import { randomSnapshot } from "./_random_snapshot.ts";

const MiB = 1024 * 1024;
const self = new URL(import.meta.url).pathname;

/** CPU seconds (user + system) used so far by the given processes. */
async function cpuSecondsOf(pids: number[]): Promise<number> {
  // Deno reads /proc only with every permission; cat needs none of that.
  const out = await new Deno.Command("cat", {
    args: pids.map((p) => `/proc/${p}/stat`),
    stdout: "piped",
    stderr: "null",
  }).output();
  return _ticks(new TextDecoder().decode(out.stdout)) / 100;
}

/** utime + stime clock ticks of /proc/<pid>/stat lines. */
function _ticks(stats: string): number {
  let ticks = 0;
  for (const stat of stats.split("\n")) {
    if (!stat) continue;
    // Fields after the command name (which may hold spaces): utime is 14th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}

interface ChildArgs {
  mode: string;
  endpoint: string;
  bucket: string;
  key: string;
  /** The snapshot (upload) or the directory to receive into (restore). */
  path: string;
  access: string;
  secret: string;
  memoryMib?: number;
  partMib?: number;
  concurrency?: number;
  http?: string;
  checksum?: string;
  hashWorker: boolean;
}

/** Our side, in a child process so its peak RSS and CPU are its own. */
async function child(a: ChildArgs): Promise<void> {
  const remote = s3Remote({
    id: "bench",
    provider: "custom",
    bucket: a.bucket,
    endpoint: a.endpoint,
    accessKeyId: a.access,
    secretAccessKey: a.secret,
    memory: a.memoryMib ? a.memoryMib * MiB : undefined,
    partSize: a.partMib ? a.partMib * MiB : undefined,
    concurrency: a.concurrency,
    http: a.http as "fetch" | "node" | undefined,
    checksum: a.checksum as "md5" | "sha256" | "signed-sha256" | undefined,
  });
  let note: string;
  if (a.mode === "upload") {
    const r = await uploadStream(remote, a.key, await send(a.path), {
      hashWorker: a.hashWorker,
    });
    note = `parts=${r.parts} buffers=${
      (r.peakBufferBytes / MiB).toFixed(0)
    }MiB`;
  } else {
    const d = await downloadStream(remote, a.key, { hashWorker: a.hashWorker });
    await receive(d.stream, a.path);
    note = `verified=${d.verified}`;
  }
  remote.close();
  const status = Deno.readTextFileSync("/proc/self/status");
  const hwm = Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0);
  // This process only: btrfs send/receive, its children, are not counted.
  const cpu = _ticks(Deno.readTextFileSync("/proc/self/stat")) / 100;
  console.error(`VMHWM_KIB=${hwm} SELF_CPU_S=${cpu} NOTE=${note}`);
  Deno.exit(0);
}

interface Row {
  tool: string;
  op: "upload" | "restore";
  seconds: number;
  rssMiB: number;
  cpuSeconds: number;
  serverCpuSeconds: number;
  note: string;
}

async function timed(
  script: string,
  env: Record<string, string>,
): Promise<{ seconds: number; stderr: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-c", `set -o pipefail; ${script}`],
    env,
    // Only the variables given: no CA bundles or profiles of this shell.
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${script} failed:\n${stderr.slice(-3000)}`);
  }
  return { seconds, stderr };
}

/** The awscli program itself (a pyenv shim would be measured instead of it). */
async function awsPath(): Promise<string> {
  const which = await run(["bash", "-c", "command -v aws"], { check: false });
  const path = which.stdout.trim();
  if (!path) {
    throw new Error("aws not found: bash scripts/ensure_packages.sh bench");
  }
  const text = await Deno.readTextFile(path).catch(() => "");
  if (text.includes("pyenv")) {
    const real = await run(["pyenv", "which", "aws"], { check: false });
    if (real.success) return real.stdout.trim();
  }
  return path;
}

interface Tool {
  name: string;
  up: (key: string) => string;
  down: (key: string, dir: string) => string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "size-mib": { type: "string", default: "1536" },
      rounds: { type: "string", default: "2" },
      store: { type: "string", default: "bluestore" },
      "memory-mib": { type: "string" },
      budgets: { type: "string", default: "" },
      "part-mib": { type: "string" },
      concurrency: { type: "string" },
      only: { type: "string" },
      http: { type: "string" },
      checksum: { type: "string" },
      "hash-worker": { type: "boolean", default: false },
      child: { type: "string" },
      endpoint: { type: "string" },
      bucket: { type: "string" },
      key: { type: "string" },
      path: { type: "string" },
    },
  });
  const num = (s: string | undefined) => (s ? Number(s) : undefined);
  if (values.child) {
    return await child({
      mode: values.child,
      endpoint: values.endpoint!,
      bucket: values.bucket!,
      key: values.key!,
      path: values.path!,
      access: Deno.env.get("AWS_ACCESS_KEY_ID")!,
      secret: Deno.env.get("AWS_SECRET_ACCESS_KEY")!,
      memoryMib: num(values["memory-mib"]),
      partMib: num(values["part-mib"]),
      concurrency: num(values.concurrency),
      http: values.http,
      checksum: values.checksum,
      hashWorker: values["hash-worker"],
    });
  }

  const mib = Number(values["size-mib"]);
  const rounds = Number(values.rounds);
  const store = values.store as "bluestore" | "memstore";
  console.error(`making a ${mib} MiB snapshot of random data ...`);
  // Room for a received copy and one being freed.
  await using snap = await randomSnapshot(mib, 2 * mib + 512);
  const into = `${snap.fs.mountPoint}/received`;
  await Deno.mkdir(into);
  const size = Number(
    (await run([
      "bash",
      "-c",
      `btrfs send -q "${snap.snapshot}" | wc -c`,
    ])).stdout.trim(),
  );
  console.error(`starting Ceph RGW (${store}) ...`);
  await using server = await startS3Server({ store });
  const bucket = await server.createBucket("bench");
  const aws = await awsPath();
  const env = {
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    AWS_DEFAULT_REGION: server.region,
    AWS_EC2_METADATA_DISABLED: "true",
    RCLONE_CONFIG_BENCH_TYPE: "s3",
    RCLONE_CONFIG_BENCH_PROVIDER: "Ceph",
    RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: server.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: server.secretAccessKey,
    RCLONE_CONFIG_BENCH_REGION: server.region,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
  };
  // GNU time measures the tool itself (not btrfs).
  const time = "/usr/bin/time -f 'MAXRSS_KIB=%M CPU_S=%U+%S'";
  const sendCmd = `btrfs send -q "${snap.snapshot}"`;
  const ours = (memory: string | undefined) => {
    const flags = [
      `--endpoint ${server.endpoint} --bucket ${bucket}`,
      memory ? `--memory-mib ${memory}` : "",
      ...(["part-mib", "concurrency", "http", "checksum"] as const).map((o) =>
        values[o] ? `--${o} ${values[o]}` : ""
      ),
      values["hash-worker"] ? "--hash-worker" : "",
    ].filter(Boolean).join(" ");
    const deno = `"${Deno.execPath()}" run -A "${self}" ${flags}`;
    return {
      up: (k: string) =>
        `${deno} --child upload --key ${k} --path "${snap.snapshot}"`,
      down: (k: string, dir: string) =>
        `${deno} --child restore --key ${k} --path "${dir}"`,
    };
  };
  const allTools: Tool[] = [
    { name: "snap2s3", ...ours(values["memory-mib"]) },
    ...values.budgets.split(",").filter(Boolean).map((m) => ({
      name: `snap2s3 ${m} MiB`,
      ...ours(m),
    })),
    {
      name: "aws s3 cp",
      up: (k) =>
        `${sendCmd} | ${time} ${aws} --endpoint-url ${server.endpoint} s3 cp - s3://${bucket}/${k}`,
      down: (k, dir) =>
        `${time} ${aws} --endpoint-url ${server.endpoint} s3 cp s3://${bucket}/${k} - | btrfs receive -q "${dir}"`,
    },
    {
      name: "rclone",
      up: (k) => `${sendCmd} | ${time} rclone rcat bench:${bucket}/${k}`,
      down: (k, dir) =>
        `${time} rclone cat bench:${bucket}/${k} | btrfs receive -q "${dir}"`,
    },
  ];
  const tools = allTools.filter((t) =>
    !values.only || t.name.startsWith(values.only)
  );

  const rows: Row[] = [];
  const measure = async (t: Tool, op: Row["op"], script: string) => {
    console.error(`${t.name} ${op} ...`);
    const cpu0 = await cpuSecondsOf(server.pids);
    const r = await timed(script, env);
    const serverCpuSeconds = await cpuSecondsOf(server.pids) - cpu0;
    const hwm = r.stderr.match(/VMHWM_KIB=(\d+)/);
    const gnu = r.stderr.match(/MAXRSS_KIB=(\d+) CPU_S=([\d.]+)\+([\d.]+)/);
    rows.push({
      tool: t.name,
      op,
      seconds: r.seconds,
      rssMiB: Number(hwm?.[1] ?? gnu?.[1] ?? 0) / 1024,
      cpuSeconds: Number(r.stderr.match(/SELF_CPU_S=([\d.]+)/)?.[1] ?? 0) +
        Number(gnu?.[2] ?? 0) + Number(gnu?.[3] ?? 0),
      serverCpuSeconds,
      note: r.stderr.match(/NOTE=(.*)/)?.[1] ?? "",
    });
  };
  const keyOf = (t: Tool) => `bench-${t.name.replace(/\W/g, "")}.seqn0`;
  for (let round = 0; round < rounds; round++) {
    // Alternate the order: no tool always runs first, or after the same one.
    const order = round % 2 ? [...tools].reverse() : tools;
    for (const t of order) await measure(t, "upload", t.up(keyOf(t)));
    for (const t of order) {
      const dir = `${into}/${round}-${t.name.replace(/\W/g, "")}`;
      await Deno.mkdir(dir);
      await measure(t, "restore", t.down(keyOf(t), dir));
      // Wait for the space to be freed too (the next copy needs it).
      await run([
        "bash",
        "-c",
        `btrfs subvolume delete "${dir}"/* >/dev/null && rmdir "${dir}" && btrfs subvolume sync "${snap.fs.mountPoint}"`,
      ]);
    }
    // Free what this round stored, so that rounds do not fill the store.
    await timed(
      `${aws} --endpoint-url ${server.endpoint} s3 rm --recursive --quiet s3://${bucket}/`,
      env,
    );
    await server.collectGarbage();
  }
  console.log(_table(rows, size, store, rounds));
}

/** The table: one line per tool and operation, the rounds' figures side by side, then the ratios. */
function _table(
  rows: Row[],
  size: number,
  store: string,
  rounds: number,
): string {
  const head = [
    "tool",
    "op",
    "MB/s (each round)",
    "MB/s",
    "CPU s",
    "Ceph CPU s",
    "peak RSS MiB",
    "note",
  ];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.op}\t${r.tool}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const mbps = (rs: Row[]) => rs.map((r) => size / 1e6 / r.seconds);
  const lines = [...groups.values()].sort((
    a,
    b,
  ) => (a[0].op === b[0].op ? 0 : a[0].op === "upload" ? -1 : 1)).map((rs) => [
    rs[0].tool,
    rs[0].op,
    mbps(rs).map((x) => x.toFixed(0)).join(" "),
    mean(mbps(rs)).toFixed(0),
    mean(rs.map((r) => r.cpuSeconds)).toFixed(1),
    mean(rs.map((r) => r.serverCpuSeconds)).toFixed(1),
    Math.max(...rs.map((r) => r.rssMiB)).toFixed(0),
    rs.at(-1)!.note,
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => l[i].length))
  );
  const fmt = (l: string[]) =>
    l.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const out = [
    `${
      (size / MiB).toFixed(0)
    } MiB btrfs send stream, Ceph ${store}, ${rounds} round(s) in alternating order; peak RSS is the largest of the rounds`,
    fmt(head),
    ...lines.map(fmt),
  ];
  for (const op of ["upload", "restore"]) {
    const of = (tool: string) =>
      groups.get(`${op}\t${tool}`) && mean(mbps(groups.get(`${op}\t${tool}`)!));
    const us = of("snap2s3");
    for (const peer of ["aws s3 cp", "rclone"]) {
      const them = of(peer);
      if (us && them) {
        out.push(`${op}: snap2s3 ${(us / them).toFixed(2)}x ${peer}`);
      }
    }
  }
  return out.join("\n");
}

if (import.meta.main) await main();
