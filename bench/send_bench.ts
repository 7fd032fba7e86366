/**
 * What reading `btrfs send` through the driver's stream costs over
 * `btrfs send -f /dev/null` and `btrfs send | dd bs=1M`, on the same
 * snapshot of incompressible data on a loop-mounted btrfs. The driver is
 * read as an upload reads it: straight into reused part buffers (BYOB).
 * Needs root.
 *
 * As a script (prints medians):
 *   deno run -P=test bench/send_bench.ts [--mib 1024] [--runs 5] [--drop-caches]
 * As a benchmark (256 MiB, fewer iterations): `deno task bench`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { run } from "../tests/fixtures/process.ts";
import { send } from "../lib/drivers/btrfs/send.ts";
import { StreamReader } from "../lib/drivers/transfer/_stream_reader.ts";
import { type RandomSnapshot, randomSnapshot } from "./_random_snapshot.ts";

type Setup = RandomSnapshot;

/** A loop btrfs holding a read-only snapshot of `mib` MiB of random data. */
function setup(mib: number): Promise<Setup> {
  return randomSnapshot(mib);
}

/** `btrfs send -f /dev/null`: the kernel's and btrfs-progs' cost alone. */
async function sendToDevNull(snapshot: string): Promise<void> {
  await run(["btrfs", "send", "-q", "-f", "/dev/null", snapshot]);
}

/** `btrfs send | dd bs=1M of=/dev/null`: a pipe reader copying into one reused buffer. */
async function sendToDd(snapshot: string): Promise<void> {
  await run([
    "sh",
    "-c",
    'btrfs send -q "$1" | dd bs=1M status=none of=/dev/null',
    "sh",
    snapshot,
  ]);
}

/** Part buffers of the default memory budget's shape. */
const _PART = 10 * 2 ** 20;
const _PARTS = 8;

/**
 * The driver's stream read to the end as an upload reads it: into part
 * buffers used in turn (the transfer's stream reader); returns the bytes.
 */
async function sendThroughDriver(snapshot: string): Promise<number> {
  const reader = new StreamReader(await send(snapshot));
  const parts = Array.from(
    { length: _PARTS },
    () => new Uint8Array(new ArrayBuffer(_PART)),
  );
  let n = 0;
  for (let i = 0;; i = (i + 1) % _PARTS) {
    const part = await reader.fill(parts[i]);
    parts[i] = new Uint8Array(part.buffer);
    n += part.length;
    if (part.length < _PART || await reader.atEnd()) return n;
  }
}

async function dropCaches(): Promise<void> {
  await run(["sync"]);
  await run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"]);
}

/** Wall and CPU (this process plus its waited-for children, user + system) milliseconds of `fn`. */
async function timed(
  fn: () => Promise<unknown>,
): Promise<{ wall: number; cpu: number }> {
  const c0 = cpuMs();
  const t = performance.now();
  await fn();
  return { wall: performance.now() - t, cpu: cpuMs() - c0 };
}

let _rusage:
  | Deno.DynamicLibrary<{
    getrusage: { parameters: ["i32", "buffer"]; result: "i32" };
  }>
  | undefined;

/** CPU time of this process and its reaped children, from getrusage(2); shared cores make wall time noisy. */
function cpuMs(): number {
  _rusage ??= Deno.dlopen("libc.so.6", {
    getrusage: { parameters: ["i32", "buffer"], result: "i32" },
  });
  let ms = 0;
  for (const who of [0, -1]) { // RUSAGE_SELF, RUSAGE_CHILDREN
    const buf = new BigInt64Array(18); // struct rusage: 144 bytes
    _rusage.symbols.getrusage(who, buf);
    // ru_utime and ru_stime: two struct timeval (seconds, microseconds).
    ms += Number(buf[0] + buf[2]) * 1000 + Number(buf[1] + buf[3]) / 1000;
  }
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mib: { type: "string", default: "1024" },
      runs: { type: "string", default: "5" },
      "drop-caches": { type: "boolean", default: false },
    },
  });
  const mib = Number(values.mib);
  const runs = Number(values.runs);
  const cold = values["drop-caches"];
  console.log(`setting up ${mib} MiB of random data on a loop btrfs...`);
  const s = await setup(mib);
  try {
    // Warm both paths once (page cache, binaries) unless measuring cold reads.
    await sendToDevNull(s.snapshot);
    const bytes = await sendThroughDriver(s.snapshot);
    console.log(
      `stream: ${
        (bytes / 2 ** 20).toFixed(1)
      } MiB; ${runs} runs each, alternating, ${
        cold ? "caches dropped before each" : "warm page cache"
      }`,
    );
    type Case = readonly [string, (snapshot: string) => Promise<unknown>];
    const cases: Case[] = [
      ["btrfs send -f /dev/null", sendToDevNull],
      ["driver into part buffers", sendThroughDriver],
      // The reference: a reader that copies the data to user space, into one
      // reused buffer.
      ["btrfs send | dd bs=1M", sendToDd],
    ];
    const times = new Map<string, { wall: number; cpu: number }[]>(
      cases.map(([name]) => [name, []]),
    );
    for (let i = 0; i < runs; i++) {
      // Rotate the order so no case always runs after the same other one.
      const order = cases.map((_, k) => cases[(k + i) % cases.length]);
      for (const [name, fn] of order) {
        if (cold) await dropCaches();
        times.get(name)!.push(await timed(() => fn(s.snapshot)));
      }
      console.log(
        `run ${i + 1}: ` + cases.map(([name]) => {
          const t = times.get(name)!.at(-1)!;
          return `${name} ${t.wall.toFixed(0)} ms (cpu ${t.cpu.toFixed(0)})`;
        }).join(", "),
      );
    }
    const mibs = (ms: number) => (bytes / 2 ** 20 / (ms / 1000)).toFixed(0);
    const medians = new Map(cases.map(([name]) => {
      const xs = times.get(name)!;
      const wall = median(xs.map((x) => x.wall));
      const cpu = median(xs.map((x) => x.cpu));
      console.log(
        `median ${name.padEnd(28)} ${wall.toFixed(0)} ms wall (${
          mibs(wall)
        } MiB/s), ${cpu.toFixed(0)} ms cpu`,
      );
      return [name, { wall, cpu }];
    }));
    const base = medians.get(cases[0][0])!;
    const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`;
    for (const [name] of cases.slice(1)) {
      const m = medians.get(name)!;
      console.log(
        `${name} vs btrfs send -f /dev/null: ${pct(m.wall, base.wall)} wall, ${
          pct(m.cpu, base.cpu)
        } cpu`,
      );
    }
    const ours = medians.get(cases[1][0])!;
    const dd = medians.get(cases[2][0])!;
    console.log(
      `driver vs btrfs send | dd bs=1M: ${
        pct(ours.wall, dd.wall)
      } wall (target < 10%), ${pct(ours.cpu, dd.cpu)} cpu`,
    );
  } finally {
    await s.close();
  }
}

if (import.meta.main) {
  await main();
} else {
  // Under `deno bench`: a smaller snapshot, set up once for both cases.
  const isRoot = Deno.uid() === 0;
  let shared: Promise<Setup> | undefined;
  let ready: Setup | undefined;
  const get = async () => ready ??= await (shared ??= setup(256));
  // deno bench has no teardown hook; unload handlers must be synchronous.
  globalThis.addEventListener("unload", () => {
    if (!ready) return;
    new Deno.Command("umount", { args: ["-l", ready.fs.mountPoint] })
      .outputSync();
    Deno.removeSync(dirname(ready.fs.image), { recursive: true });
  });
  Deno.bench({
    name: "btrfs send -f /dev/null (256 MiB)",
    group: "send",
    baseline: true,
    ignore: !isRoot,
    warmup: 1,
    n: 5,
    async fn(b) {
      const { snapshot } = await get();
      b.start();
      await sendToDevNull(snapshot);
      b.end();
    },
  });
  Deno.bench({
    name: "driver send stream read to the end (256 MiB)",
    group: "send",
    ignore: !isRoot,
    warmup: 1,
    n: 5,
    async fn(b) {
      const { snapshot } = await get();
      b.start();
      await sendThroughDriver(snapshot);
      b.end();
    },
  });
}
