/**
 * Transfer benchmark: uploads and downloads a generated stream (default
 * 2 GiB) to a Ceph RGW (bluestore) with snap2s3's transfer manager, `aws s3
 * cp` and `rclone rcat`/`cat`, in one run, and prints MB/s and peak RSS.
 *
 *   deno run -P=test bench/transfer_bench.ts [--size-mib 2048] [--store bluestore|memstore]
 *        [--part-mib 16] [--concurrency 8] [--only ours] [--http fetch|node]
 *        [--checksum md5|sha256|signed-sha256] [--range-mib 8] [--download-concurrency 4]
 *
 * Every tool reads the same generator from a pipe (upload) and writes to
 * /dev/null (download). Peak RSS: VmHWM from /proc of our child process;
 * the peers' maximum resident set from GNU time. CPU: user + system seconds
 * of the tool (GNU time; the generator not included) and of the Ceph daemons
 * (they share the machine). Needs root (Ceph).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startS3Server } from "../tests/fixtures/s3_server.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { uploadStream } from "../lib/drivers/transfer/upload.ts";
import { downloadStream } from "../lib/drivers/transfer/download.ts";

const MiB = 1024 * 1024;
const self = new URL(import.meta.url).pathname;

/** Writes `bytes` of varied pseudo-random data to stdout, fast. */
async function generate(bytes: number): Promise<void> {
  const block = new Uint8Array(16 * MiB);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  const w = Deno.stdout.writable.getWriter();
  const view = new DataView(block.buffer);
  let sent = 0;
  for (let n = 0; sent < bytes; n++) {
    // Every MiB differs from every other (a counter in its first bytes).
    for (let off = 0; off < block.length; off += MiB) view.setUint32(off, n);
    const chunk = block.subarray(0, Math.min(block.length, bytes - sent));
    await w.write(chunk.slice());
    sent += chunk.length;
  }
  await w.close();
}

/** CPU seconds (user + system) used so far by the given processes. */
async function cpuSecondsOf(pids: number[]): Promise<number> {
  // Deno reads /proc only with every permission; cat needs none of that.
  const out = await new Deno.Command("cat", {
    args: pids.map((p) => `/proc/${p}/stat`),
    stdout: "piped",
    stderr: "null",
  }).output();
  let ticks = 0;
  for (const stat of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!stat) continue;
    // Fields after the command name (which may hold spaces): utime is 14th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

function vmHwmKiB(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(
    /VmHWM:\s+(\d+) kB/,
  );
  return m ? Number(m[1]) : 0;
}

interface ChildArgs {
  mode: string;
  endpoint: string;
  bucket: string;
  key: string;
  access: string;
  secret: string;
  part: number;
  conc: number;
  http?: string;
  checksum?: string;
  rangeMib?: number;
  downConc?: number;
}

/** Our side, in a child process so its peak RSS is its own. */
async function child(a: ChildArgs): Promise<void> {
  const remote = s3Remote({
    id: "bench",
    provider: "custom",
    bucket: a.bucket,
    endpoint: a.endpoint,
    accessKeyId: a.access,
    secretAccessKey: a.secret,
    partSize: a.part * MiB,
    concurrency: a.conc,
    http: a.http as "fetch" | "node" | undefined,
    checksum: a.checksum as "md5" | "sha256" | "signed-sha256" | undefined,
  });
  let extra = "";
  if (a.mode === "upload") {
    const r = await uploadStream(remote, a.key, Deno.stdin.readable);
    extra = `parts=${r.parts}`;
  } else {
    const d = await downloadStream(remote, a.key, {
      rangeSize: a.rangeMib ? a.rangeMib * MiB : undefined,
      concurrency: a.downConc,
    });
    await d.stream.pipeTo(Deno.stdout.writable);
    extra = `verified=${d.verified}`;
  }
  remote.close();
  console.error(`VMHWM_KIB=${vmHwmKiB()} ${extra}`);
  Deno.exit(0);
}

interface Row {
  tool: string;
  op: string;
  seconds: number;
  mbps: number;
  rssMiB: number;
  cpuSeconds: number;
  serverCpuSeconds: number;
  note: string;
}

async function timed(
  argv: string[],
  env: Record<string, string>,
): Promise<{ seconds: number; stderr: string; maxRssKiB: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    // Only the variables given: no CA bundles or profiles of this shell.
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${argv.join(" ")} failed:\n${stderr.slice(-3000)}`);
  }
  const m = stderr.match(/MAXRSS_KIB=(\d+)/);
  return { seconds, stderr, maxRssKiB: m ? Number(m[1]) : 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "size-mib": { type: "string", default: "2048" },
      store: { type: "string", default: "bluestore" },
      "part-mib": { type: "string", default: "16" },
      concurrency: { type: "string", default: "8" },
      only: { type: "string" },
      http: { type: "string" },
      checksum: { type: "string" },
      "range-mib": { type: "string" },
      "download-concurrency": { type: "string" },
      gen: { type: "string" },
      child: { type: "string" },
      endpoint: { type: "string" },
      bucket: { type: "string" },
      key: { type: "string" },
    },
  });
  if (values.gen) return await generate(Number(values.gen));
  const deno = Deno.execPath();
  if (values.child) {
    return await child({
      mode: values.child,
      endpoint: values.endpoint!,
      bucket: values.bucket!,
      key: values.key!,
      access: Deno.env.get("AWS_ACCESS_KEY_ID")!,
      secret: Deno.env.get("AWS_SECRET_ACCESS_KEY")!,
      part: Number(values["part-mib"]),
      conc: Number(values.concurrency),
      http: values.http,
      checksum: values.checksum,
      rangeMib: values["range-mib"] ? Number(values["range-mib"]) : undefined,
      downConc: values["download-concurrency"]
        ? Number(values["download-concurrency"])
        : undefined,
    });
  }

  const size = Number(values["size-mib"]) * MiB;
  const store = values.store as "bluestore" | "memstore";
  console.error(`starting Ceph RGW (${store}) ...`);
  await using server = await startS3Server({ store });
  const bucket = await server.createBucket("bench");
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
  const gen = `"${deno}" run -P=test "${self}" --gen ${size}`;
  const ours = (mode: string, key: string) =>
    `"${deno}" run -A "${self}" --child ${mode} --endpoint ${server.endpoint} --bucket ${bucket} --key ${key} --part-mib ${
      values["part-mib"]
    } --concurrency ${values.concurrency}${
      values.http ? ` --http ${values.http}` : ""
    }${
      ["checksum", "range-mib", "download-concurrency"].map((o) => {
        const v = values[o as "checksum"];
        return v ? ` --${o} ${v}` : "";
      }).join("")
    }`;
  type Tool = {
    name: string;
    up: (k: string) => string;
    down: (k: string) => string;
  };
  const allTools: Tool[] = [
    {
      name: "snap2s3",
      up: (k) => ours("upload", k),
      down: (k) => ours("download", k),
    },
    {
      name: "aws s3 cp",
      up: (k) =>
        `/usr/bin/aws --endpoint-url ${server.endpoint} s3 cp - s3://${bucket}/${k}`,
      down: (k) =>
        `/usr/bin/aws --endpoint-url ${server.endpoint} s3 cp s3://${bucket}/${k} -`,
    },
    {
      name: "rclone",
      up: (k) => `rclone rcat bench:${bucket}/${k}`,
      down: (k) => `rclone cat bench:${bucket}/${k}`,
    },
  ];
  const tools = allTools.filter((t) =>
    !values.only || t.name.startsWith(values.only)
  );

  const rows: Row[] = [];
  for (const op of ["upload", "download"] as const) {
    for (const t of tools) {
      const key = `bench-${t.name.replace(/\W/g, "")}.seqn0`;
      // GNU time measures the tool itself (not the generator).
      const time = "/usr/bin/time -f 'MAXRSS_KIB=%M CPU_S=%U+%S'";
      const script = op === "upload"
        ? `set -o pipefail; ${gen} | ${time} ${t.up(key)}`
        : `${time} ${t.down(key)} > /dev/null`;
      console.error(`${t.name} ${op} ...`);
      const cpu0 = await cpuSecondsOf(server.pids);
      const r = await timed(["bash", "-c", script], env);
      const serverCpuSeconds = await cpuSecondsOf(server.pids) - cpu0;
      const hwm = r.stderr.match(/VMHWM_KIB=(\d+)/);
      // Ours: VmHWM of the child deno process; peers: GNU time's maximum RSS.
      const rssKiB = hwm ? Number(hwm[1]) : r.maxRssKiB;
      rows.push({
        tool: t.name,
        op,
        seconds: r.seconds,
        mbps: size / 1e6 / r.seconds,
        rssMiB: rssKiB / 1024,
        cpuSeconds: (r.stderr.match(/CPU_S=([\d.]+)\+([\d.]+)/)?.slice(1) ?? [])
          .reduce((a, b) => a + Number(b), 0),
        serverCpuSeconds,
        note: r.stderr.match(/(parts|verified)=\S+/)?.[0] ?? "",
      });
    }
  }

  const head = [
    "tool",
    "op",
    "seconds",
    "MB/s",
    "peak RSS MiB",
    "CPU s",
    "Ceph CPU s",
    "note",
  ];
  const lines = rows.map((r) => [
    r.tool,
    r.op,
    r.seconds.toFixed(1),
    r.mbps.toFixed(0),
    r.rssMiB.toFixed(0),
    r.cpuSeconds.toFixed(1),
    r.serverCpuSeconds.toFixed(1),
    r.note,
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => l[i].length))
  );
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(
    `${size / MiB} MiB, Ceph ${store}, snap2s3 part ${
      values["part-mib"]
    } MiB x ${values.concurrency} (bound ${
      Number(values["part-mib"]) * (Number(values.concurrency) + 1)
    } MiB of parts)`,
  );
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
  for (const op of ["upload", "download"]) {
    const ourRow = rows.find((r) => r.tool === "snap2s3" && r.op === op);
    const peers = rows.filter((r) => r.tool !== "snap2s3" && r.op === op);
    if (ourRow && peers.length) {
      const best = Math.max(...peers.map((p) => p.mbps));
      console.log(
        `${op}: snap2s3 ${(ourRow.mbps / best).toFixed(2)}x the faster peer`,
      );
    }
  }
}

if (import.meta.main) await main();
