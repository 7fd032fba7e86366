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
import { createBtrfs } from "../tests/fixtures/btrfs.ts";
import { run } from "../tests/fixtures/process.ts";
import { send } from "../lib/btrfs/send.ts";
import { createSnapshot } from "../lib/btrfs/snapshots.ts";

interface Setup {
  snapshot: string;
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
    return { snapshot: snap.path, close: () => fs.close() };
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

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
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
    const devNull: number[] = [];
    const driver: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate the order so neither side always runs after the other.
      const pair = i % 2 === 0
        ? [["devnull", sendToDevNull], ["driver", sendThroughDriver]] as const
        : [["driver", sendThroughDriver], ["devnull", sendToDevNull]] as const;
      for (const [name, fn] of pair) {
        if (cold) await dropCaches();
        const ms = await timed(() => fn(s.snapshot));
        (name === "driver" ? driver : devNull).push(ms);
      }
      console.log(
        `run ${i + 1}: btrfs send -f /dev/null ${
          devNull.at(-1)!.toFixed(0)
        } ms, driver stream ${driver.at(-1)!.toFixed(0)} ms`,
      );
    }
    const a = median(devNull);
    const b = median(driver);
    const mibs = (ms: number) => (bytes / 2 ** 20 / (ms / 1000)).toFixed(0);
    console.log(
      `median btrfs send -f /dev/null: ${a.toFixed(0)} ms (${mibs(a)} MiB/s)`,
    );
    console.log(
      `median driver stream read:      ${b.toFixed(0)} ms (${mibs(b)} MiB/s)`,
    );
    console.log(
      `driver overhead: ${((b / a - 1) * 100).toFixed(1)}% (target < 5%)`,
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
  const get = () => shared ??= setup(256);
  let pending = 2 * 6; // iterations of both benches (warmup + n), then clean up
  const done = async () => {
    if (--pending === 0) await (await get()).close();
  };
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
      await done();
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
      await done();
    },
  });
}
