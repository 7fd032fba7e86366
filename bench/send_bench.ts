/**
 * What reading `btrfs send` through the driver's stream costs over
 * `btrfs send -f /dev/null`, on the same snapshot of incompressible data on
 * a loop-mounted btrfs. Needs root.
 *
 * As a script (prints medians):
 *   deno run -P=test bench/send_bench.ts [--mib 1024] [--runs 5] [--drop-caches]
 * As a benchmark (256 MiB, fewer iterations): `deno task bench`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BtrfsFixture, createBtrfs } from "../tests/fixtures/btrfs.ts";
import { dirname } from "node:path";
import { run } from "../tests/fixtures/process.ts";
import { send } from "../lib/btrfs/send.ts";
import { createSnapshot } from "../lib/btrfs/snapshots.ts";

interface Setup {
  snapshot: string;
  fs: BtrfsFixture;
  close(): Promise<void>;
}

/** A loop btrfs holding a read-only snapshot of `mib` MiB of random data. */
async function setup(mib: number): Promise<Setup> {
  // Room for the data plus metadata (DUP) and slack.
  const fs = await createBtrfs({ sizeMiB: mib + 512 });
  try {
    const src = `${fs.mountPoint}/src`;
    await run(["btrfs", "subvolume", "create", src]);
    await Deno.mkdir(`${fs.mountPoint}/snaps`);
    const file = await Deno.open(`${src}/random.bin`, {
      write: true,
      create: true,
    });
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < mib; i++) {
      for (let o = 0; o < chunk.length; o += 65536) {
        crypto.getRandomValues(chunk.subarray(o, o + 65536));
      }
      for (let w = 0; w < chunk.length;) {
        w += await file.write(chunk.subarray(w));
      }
    }
    file.close();
    const snap = await createSnapshot(src, `${fs.mountPoint}/snaps`, "s");
    return { snapshot: snap.path, fs, close: () => fs.close() };
  } catch (e) {
    await fs.close();
    throw e;
  }
}

/** `btrfs send -f /dev/null`: the kernel's and btrfs-progs' cost alone. */
async function sendToDevNull(snapshot: string): Promise<void> {
  await run(["btrfs", "send", "-q", "-f", "/dev/null", snapshot]);
}

/** The driver's stream, read to the end; returns the bytes read. */
async function sendThroughDriver(snapshot: string): Promise<number> {
  let n = 0;
  for await (const chunk of await send(snapshot)) n += chunk.length;
  return n;
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
    const devNull: { wall: number; cpu: number }[] = [];
    const driver: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate the order so neither side always runs after the other.
      const pair = i % 2 === 0
        ? [["devnull", sendToDevNull], ["driver", sendThroughDriver]] as const
        : [["driver", sendThroughDriver], ["devnull", sendToDevNull]] as const;
      for (const [name, fn] of pair) {
        if (cold) await dropCaches();
        const t = await timed(() => fn(s.snapshot));
        (name === "driver" ? driver : devNull).push(t);
      }
      const [a, b] = [devNull.at(-1)!, driver.at(-1)!];
      console.log(
        `run ${i + 1}: btrfs send -f /dev/null ${a.wall.toFixed(0)} ms (cpu ${
          a.cpu.toFixed(0)
        }), driver stream ${b.wall.toFixed(0)} ms (cpu ${b.cpu.toFixed(0)})`,
      );
    }
    const mibs = (ms: number) => (bytes / 2 ** 20 / (ms / 1000)).toFixed(0);
    const report = (what: string, xs: { wall: number; cpu: number }[]) => {
      const wall = median(xs.map((x) => x.wall));
      const cpu = median(xs.map((x) => x.cpu));
      console.log(
        `median ${what}: ${wall.toFixed(0)} ms wall (${mibs(wall)} MiB/s), ${
          cpu.toFixed(0)
        } ms cpu`,
      );
      return { wall, cpu };
    };
    const a = report("btrfs send -f /dev/null", devNull);
    const b = report("driver stream read     ", driver);
    console.log(
      `driver overhead: ${
        ((b.wall / a.wall - 1) * 100).toFixed(1)
      }% wall (target < 5%), ${((b.cpu / a.cpu - 1) * 100).toFixed(1)}% cpu`,
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
