/**
 * `snap2s3 daemon` on a seconds-level policy, real btrfs and a local remote:
 * it backs up a changing source at its ticks, survives a remote outage and
 * recovers, reloads on SIGHUP (keeping the old config when the new one is
 * bad), tells systemd READY=1 and pings its watchdog, and on SIGTERM exits 0
 * within seconds leaving no `.NEW.` snapshot or partial file. In-process,
 * its ticks reuse one listing of the remote.
 */
import assert from "node:assert/strict";
import { runDaemon } from "../lib/app/commands/daemon.ts";
import { failureBackoffMs } from "../lib/app/commands/daemon.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { listBackups } from "../mod.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
];

/** Collects a stream's text as it comes. */
function collect(stream: ReadableStream<Uint8Array>): { text: string } {
  const sink = { text: "" };
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      sink.text += chunk;
    }
  })();
  return sink;
}

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function count(text: string, re: RegExp): number {
  return text.split("\n").filter((l) => re.test(l)).length;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** A unix datagram socket that records what systemd would receive. */
function notifyListener(path: string) {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      `import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True: print(s.recv(4096).decode().replace("\\n", "|"), flush=True)`,
      path,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = collect(child.stdout);
  return {
    out,
    close: async () => {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

Deno.test({
  name:
    "daemon: backs up a changing source, survives an outage, reloads on SIGHUP, READY and WATCHDOG, SIGTERM exits 0 leaving nothing behind",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    const dir = await Deno.makeTempDir();
    const policy = `${dir}/policy.ts`;
    const config = (extra: Record<string, unknown> = {}) => ({
      timezone: "UTC",
      remotes: [{ kind: "local", id: "usb", path: remote }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: snaps,
        upload: [{ remote: "usb", preserve: "1y 1d 10s" }],
      }],
      ...extra,
    });
    const writePolicy = (c: unknown) =>
      Deno.writeTextFile(policy, `export default ${JSON.stringify(c)};\n`);
    await writePolicy(config());
    let n = 0;
    const change = () =>
      Deno.writeTextFile(`${data}/f${n % 4}.txt`, `change ${++n}\n`.repeat(n));
    await change();

    const socket = `${dir}/notify.sock`;
    const listener = notifyListener(socket);
    await waitFor(
      "the notify socket",
      () => listener.out.text.includes("LISTENING"),
    );
    const daemon = new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, CLI, "daemon", policy, "--every", "1s"],
      env: {
        NO_COLOR: "1",
        NOTIFY_SOCKET: socket,
        WATCHDOG_USEC: "400000",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = collect(daemon.stdout);
    const stderr = collect(daemon.stderr);
    const all = () => `${stdout.text}\n${stderr.text}`;
    const uploads = () => count(stdout.text, /uploaded data\./);
    let exited = false;
    const status = daemon.status.then((s) => {
      exited = true;
      return s;
    });
    try {
      await t.step(
        "READY=1, then a backup at each tick with a change",
        async () => {
          await waitFor("READY=1", () => listener.out.text.includes("READY=1"));
          await waitFor("the first backup", () => uploads() >= 1);
          for (let i = 0; i < 2; i++) {
            const before = uploads();
            await change();
            await waitFor(`backup ${before + 1}`, () => uploads() > before);
          }
          assert.ok(uploads() >= 3, all());
          assert.match(listener.out.text, /WATCHDOG=1/);
        },
      );

      await t.step(
        "a remote outage fails ticks; the daemon stays up and recovers",
        async () => {
          // The disk is gone and a file stands where it was mounted.
          await Deno.rename(remote, `${remote}.away`);
          await Deno.writeTextFile(remote, "not a directory");
          await change();
          await waitFor(
            "two failed ticks",
            () => count(stderr.text, /^tick \d+ failed/) >= 2,
          );
          assert.equal(exited, false, "still running");
          assert.match(stderr.text, /failed \(2 in a row\).*next try in 2s/);
          await Deno.remove(remote);
          await Deno.rename(`${remote}.away`, remote);
          const before = uploads();
          await waitFor(
            "a backup after the outage",
            () => uploads() > before,
            30_000,
          );
        },
      );

      await t.step(
        "SIGHUP reloads; a broken config is refused and the old one kept",
        async () => {
          const metrics = `${dir}/snap2s3.prom`;
          await writePolicy(config({ metricsFile: metrics }));
          daemon.kill("SIGHUP");
          await waitFor(
            "reloaded",
            () => stdout.text.includes(`reloaded ${policy}`),
          );
          await change();
          await waitFor(
            "the metrics file of the new config",
            async () => (await entries(dir)).includes("snap2s3.prom"),
          );
          await Deno.writeTextFile(policy, "export default {{ broken");
          daemon.kill("SIGHUP");
          await waitFor(
            "the refused reload",
            () => stderr.text.includes("failed, keeping the previous config"),
          );
          const before = uploads();
          await change();
          await waitFor(
            "a backup with the old config",
            () => uploads() > before,
          );
        },
      );

      await t.step(
        "SIGTERM: exit 0 within seconds, no .NEW. snapshot, no partial file",
        async () => {
          await change();
          await new Promise((r) => setTimeout(r, 300));
          const t0 = performance.now();
          daemon.kill("SIGTERM");
          const s = await status;
          const secs = (performance.now() - t0) / 1000;
          assert.equal(s.code, 0, all());
          assert.ok(secs < 5, `stopped in ${secs.toFixed(1)} s`);
          assert.deepEqual(
            (await entries(snaps)).filter((e) => e.includes(".NEW.")),
            [],
          );
          assert.deepEqual(await entries(`${remote}/.snap2s3-partial`), []);
          assert.match(
            stdout.text,
            /daemon stopped after \d+ tick\(s\) and \d+ full listing\(s\)/,
          );
          await waitFor(
            "STOPPING=1",
            () => listener.out.text.includes("STOPPING=1"),
            2000,
          );
        },
      );
    } finally {
      if (!exited) {
        daemon.kill("SIGKILL");
        await status;
      }
      await listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "daemon ticks reuse one listing: 30 ticks with changes list the remote once",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const data = `${fs.mountPoint}/data`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    const dir = await Deno.makeTempDir();
    const policy = `${dir}/policy.ts`;
    const config = {
      timezone: "UTC",
      remotes: [{ kind: "local" as const, id: "usb", path: remote }],
      sources: [{
        kind: "btrfs" as const,
        path: data,
        snapshots: `${fs.mountPoint}/snapshots`,
        upload: [{ remote: "usb", preserve: "1y 1d 5s" }],
      }],
    };
    await Deno.writeTextFile(
      policy,
      `export default ${JSON.stringify(config)};`,
    );
    const stop = new AbortController();
    const out = memoryOutput();
    const ticks: { ok: boolean; listCalls: number }[] = [];
    try {
      await runDaemon({
        configPath: policy,
        everyMs: 100,
        output: out,
        signal: stop.signal,
        handleSignals: false,
        onTick: async (tick) => {
          ticks.push(tick);
          // A change every third tick: snapshots, uploads and expiries in between idle ticks.
          if (tick.tick % 3 === 0) {
            await Deno.writeTextFile(`${data}/f.txt`, `tick ${tick.tick}\n`);
          }
          if (tick.tick >= 30) stop.abort();
        },
      });
      assert.equal(ticks.length, 30, out.lines.join("\n"));
      assert.ok(ticks.every((t) => t.ok), out.lines.join("\n"));
      const uploaded = out.lines.filter((l) =>
        /uploaded data\./.test(l)
      ).length;
      const deleted = out.lines.filter((l) => /deleted backup/.test(l)).length;
      assert.ok(uploaded >= 8, `${uploaded} uploads`);
      assert.ok(deleted >= 1, `${deleted} deletes`);
      assert.equal(ticks.at(-1)!.listCalls, 1, "one listing for all ticks");
      // The kept listing matched the remote: what it holds is exactly a backup per kept snapshot.
      const listing = await listBackups(config, "usb");
      const snapshots = await Array.fromAsync(
        Deno.readDir(`${fs.mountPoint}/snapshots`),
      );
      assert.deepEqual(
        listing.sources[0].backups.map((b) => b.ctransid).sort((a, b) => a - b),
        snapshots.map((e) => Number(e.name.split(".").at(-1))).sort((a, b) =>
          a - b
        ),
      );
      assert.deepEqual(listing.incomplete, []);
      console.log(
        `daemon: ${ticks.length} ticks, ${uploaded} uploads, ${deleted} deletes, ${
          ticks.at(-1)!.listCalls
        } listing`,
      );
    } finally {
      stop.abort();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("failed ticks back off: doubling from one tick, at most 32 ticks or 6 hours", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 20].map((f) => failureBackoffMs(1000, f)),
    [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000],
  );
  const hour = 3_600_000;
  assert.deepEqual([1, 2, 3, 4].map((f) => failureBackoffMs(hour, f)), [
    hour,
    2 * hour,
    4 * hour,
    6 * hour,
  ]);
  assert.equal(failureBackoffMs(24 * hour, 3), 24 * hour);
});
