import assert from "node:assert/strict";
import { join } from "node:path";
import { withBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { BtrfsError } from "../lib/drivers/btrfs/errors.ts";
import { receive } from "../lib/drivers/btrfs/receive.ts";
import {
  assertSendOptionsSupported,
  send,
  type SendCapabilities,
  sendCapabilities,
} from "../lib/drivers/btrfs/send.ts";
import { parseSendStreamHead } from "../lib/drivers/btrfs/send_stream.ts";
import {
  createSnapshot,
  syncFilesystem,
} from "../lib/drivers/btrfs/snapshots.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/subvolume.ts";

/** Every entry under `dir`: files by SHA-256 and mode, symlinks by target, directories by mode. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const full = join(dir, p);
      const st = await Deno.lstat(full);
      const mode = (st.mode! & 0o7777).toString(8);
      if (st.isSymlink) out[p] = `link ${await Deno.readLink(full)}`;
      else if (st.isDirectory) {
        out[p] = `dir ${mode}`;
        await walk(p);
      } else {
        const hash = new Uint8Array(
          await crypto.subtle.digest("SHA-256", await Deno.readFile(full)),
        );
        out[p] = `file ${mode} ${st.size} ${
          Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")
        }`;
      }
    }
  };
  await walk("");
  return out;
}

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

/** Passes a stream through, counting its bytes. */
function counted(
  stream: ReadableStream<Uint8Array>,
): { stream: ReadableStream<Uint8Array>; bytes: () => number } {
  let n = 0;
  return {
    stream: stream.pipeThrough(
      new TransformStream({
        transform(chunk, c) {
          n += chunk.length;
          c.enqueue(chunk);
        },
      }),
    ),
    bytes: () => n,
  };
}

async function collect(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Pids of running `btrfs send` processes whose last argument is `path`. */
async function sendPids(path: string): Promise<number[]> {
  const r = await run(["ps", "-eo", "pid=,args="]);
  return r.stdout.split("\n").map((l) => l.trim().split(/\s+/))
    .filter((f) =>
      f[1]?.endsWith("btrfs") && f[2] === "send" && f.at(-1) === path
    )
    .map((f) => Number(f[0]));
}

Deno.test({
  name:
    "a full send and two differential sends received into a second btrfs reproduce every file byte for byte",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        const src = `${a.mountPoint}/src`;
        const snaps = `${a.mountPoint}/snaps`;
        const into = `${b.mountPoint}/backups`;
        await run(["btrfs", "subvolume", "create", src]);
        await Deno.mkdir(snaps);
        await Deno.mkdir(into);
        await Deno.writeFile(`${src}/big.bin`, random(8 << 20));
        await Deno.writeFile(`${src}/small.bin`, random(1000));
        await Deno.writeTextFile(`${src}/empty`, "");
        await Deno.mkdir(`${src}/dir/sub`, { recursive: true });
        await Deno.writeTextFile(
          `${src}/dir/sub/note.txt`,
          "note\n".repeat(1000),
        );
        await Deno.chmod(`${src}/dir/sub/note.txt`, 0o600);
        await Deno.symlink("../small.bin", `${src}/dir/link`);
        await Deno.link(`${src}/small.bin`, `${src}/dir/hard.bin`);

        await syncFilesystem(src);
        const s1 = await createSnapshot(src, snaps, "s1");
        const full = counted(await send(s1.path));
        const r1 = await receive(full.stream, into);
        assert.equal(r1.path, `${into}/s1`);
        assert.equal(r1.receivedUuid, s1.uuid);
        assert.ok(r1.readOnly);
        const t1 = await tree(s1.path);
        assert.equal(Object.keys(t1).length, 8);
        assert.deepEqual(await tree(r1.path), t1);

        // Append, overwrite in place, delete, rename, create.
        await Deno.writeFile(`${src}/big.bin`, random(1 << 20), {
          append: true,
        });
        const f = await Deno.open(`${src}/small.bin`, { write: true });
        await f.seek(100, Deno.SeekMode.Start);
        await f.write(random(50));
        f.close();
        await Deno.remove(`${src}/empty`);
        await Deno.rename(`${src}/dir/sub/note.txt`, `${src}/dir/moved.txt`);
        await Deno.writeFile(`${src}/dir/sub/new.bin`, random(300_000));
        await syncFilesystem(src);
        const s2 = await createSnapshot(src, snaps, "s2");
        const diff1 = counted(await send(s2.path, { parent: s1.path }));
        const r2 = await receive(diff1.stream, into);
        assert.equal(r2.receivedUuid, s2.uuid);
        assert.equal(r2.parentUuid, r1.uuid);
        assert.deepEqual(await tree(r2.path), await tree(s2.path));

        await Deno.writeFile(`${src}/big.bin`, random(4096), { append: true });
        await Deno.remove(`${src}/dir`, { recursive: true });
        await Deno.writeTextFile(`${src}/last.txt`, "last");
        await syncFilesystem(src);
        const s3 = await createSnapshot(src, snaps, "s3");
        const diff2 = counted(await send(s3.path, { parent: s2.path }));
        const r3 = await receive(diff2.stream, into);
        assert.equal(r3.receivedUuid, s3.uuid);
        assert.equal(r3.parentUuid, r2.uuid);
        assert.deepEqual(await tree(r3.path), await tree(s3.path));

        // Earlier received snapshots are untouched by later differentials.
        assert.deepEqual(await tree(r1.path), t1);
        // Differentials carry the changes, not the whole subvolume.
        assert.ok(full.bytes() > 8 << 20);
        assert.ok(diff1.bytes() < full.bytes() / 2, `${diff1.bytes()}`);
        assert.ok(diff2.bytes() < 64 << 10, `${diff2.bytes()}`);
      });
    });
  },
});

Deno.test({
  name:
    "a killed btrfs send surfaces as a stream error, never as a complete stream",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const src = `${fs.mountPoint}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.mkdir(`${fs.mountPoint}/snaps`);
      await Deno.writeFile(`${src}/big.bin`, random(64 << 20));
      const snap = await createSnapshot(src, `${fs.mountPoint}/snaps`, "s");
      const reader = (await send(snap.path)).getReader();
      const first = await reader.read();
      assert.ok(!first.done && first.value.length > 0);
      const pids = await sendPids(snap.path);
      assert.equal(pids.length, 1);
      Deno.kill(pids[0], "SIGKILL");
      let bytes = first.value.length;
      await assert.rejects(
        (async () => {
          for (;;) {
            const r = await reader.read();
            if (r.done) return;
            bytes += r.value.length;
          }
        })(),
        (e: unknown) =>
          e instanceof BtrfsError &&
          /was killed by SIGKILL, so its stream is incomplete/.test(e.message),
      );
      assert.ok(bytes < 64 << 20);
    });
  },
});

Deno.test({
  name: "cancelling a send stream kills btrfs send",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const src = `${fs.mountPoint}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.mkdir(`${fs.mountPoint}/snaps`);
      await Deno.writeFile(`${src}/big.bin`, random(64 << 20));
      const snap = await createSnapshot(src, `${fs.mountPoint}/snaps`, "s");
      const reader = (await send(snap.path)).getReader();
      assert.ok(!(await reader.read()).done);
      assert.equal((await sendPids(snap.path)).length, 1);
      await reader.cancel("enough");
      assert.deepEqual(await sendPids(snap.path), []);
    });
  },
});

Deno.test({
  name:
    "receive stops btrfs receive when its input stream fails, so nothing looks received",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        const src = `${a.mountPoint}/src`;
        await run(["btrfs", "subvolume", "create", src]);
        await Deno.mkdir(`${a.mountPoint}/snaps`);
        await Deno.writeFile(`${src}/big.bin`, random(4 << 20));
        const snap = await createSnapshot(src, `${a.mountPoint}/snaps`, "s");
        const whole = await collect(await send(snap.path));
        let pulls = 0;
        const truncated = new ReadableStream<Uint8Array>({
          pull(c) {
            if (pulls++ === 0) c.enqueue(whole.slice(0, 1 << 20));
            else c.error(new Error("upstream broke"));
          },
        });
        await assert.rejects(
          receive(truncated, b.mountPoint),
          (e: unknown) =>
            e instanceof BtrfsError &&
            /stream being received failed.*upstream broke.*partly received subvolume may remain at .*\/s /
              .test(e.message),
        );
        // Whatever is left was not finished: writable, with no received uuid.
        const left = await getSubvolumeInfo(`${b.mountPoint}/s`).catch(() =>
          null
        );
        if (left) {
          assert.equal(left.receivedUuid, null);
          assert.equal(left.readOnly, false);
        }
        await assert.rejects(
          receive(
            new Response(new TextEncoder().encode("x".repeat(100))).body!,
            `${b.mountPoint}`,
          ),
          /not a btrfs send stream/,
        );
      }, { sizeMiB: 256 });
    }, { sizeMiB: 256 });
  },
});

Deno.test({
  name:
    "send refuses a writable subvolume and a parent on another filesystem before spawning anything",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        await run(["btrfs", "subvolume", "create", `${a.mountPoint}/src`]);
        await run(["btrfs", "subvolume", "create", `${b.mountPoint}/src`]);
        await Deno.mkdir(`${a.mountPoint}/snaps`);
        await Deno.mkdir(`${b.mountPoint}/snaps`);
        const sa = await createSnapshot(
          `${a.mountPoint}/src`,
          `${a.mountPoint}/snaps`,
          "s",
        );
        const sb = await createSnapshot(
          `${b.mountPoint}/src`,
          `${b.mountPoint}/snaps`,
          "s",
        );
        await assert.rejects(
          send(`${a.mountPoint}/src`),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "not-snapshot" &&
            /needs a read-only snapshot/.test(e.message),
        );
        await assert.rejects(
          send(sa.path, { parent: sb.path }),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "cross-filesystem",
        );
        await assert.rejects(
          send(sa.path, { parent: `${a.mountPoint}/src` }),
          /send parent .* is writable/,
        );
      }, { sizeMiB: 256 });
    }, { sizeMiB: 256 });
  },
});

Deno.test({
  name:
    "compressed data travels compressed in send protocol 2 and is received intact, or is refused where unsupported",
  ignore: skipUnlessRoot(),
  fn: async () => {
    const caps = await sendCapabilities();
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        const src = `${a.mountPoint}/src`;
        await run(["btrfs", "subvolume", "create", src]);
        await Deno.mkdir(`${a.mountPoint}/snaps`);
        const lines = Array.from(
          { length: 400_000 },
          (_, i) => `line ${i} of compressible text\n`,
        );
        await Deno.writeTextFile(`${src}/text.txt`, lines.join(""));
        await Deno.writeFile(`${src}/random.bin`, random(1 << 20));
        const snap = await createSnapshot(src, `${a.mountPoint}/snaps`, "s");
        if (!caps.compressedData) {
          await assert.rejects(
            send(snap.path, { compressedData: true }),
            (e: unknown) =>
              e instanceof BtrfsError && e.code === "unsupported" &&
              /turn the option off/.test(e.message),
          );
          return;
        }
        const plain = await collect(await send(snap.path));
        const compressed = await collect(
          await send(snap.path, { compressedData: true }),
        );
        assert.equal(parseSendStreamHead(plain)?.version, 1);
        assert.equal(parseSendStreamHead(compressed)?.version, 2);
        assert.ok(
          compressed.length < plain.length / 2,
          `compressed ${compressed.length} vs plain ${plain.length}`,
        );
        const r = await receive(new Response(compressed).body!, b.mountPoint);
        assert.equal(r.receivedUuid, snap.uuid);
        assert.deepEqual(await tree(r.path), await tree(snap.path));
        // Protocol 2 without compressed data also round-trips.
        await Deno.mkdir(`${b.mountPoint}/p2`);
        const r2 = await receive(
          await send(snap.path, { protocol: 2 }),
          `${b.mountPoint}/p2`,
        );
        assert.deepEqual(await tree(r2.path), await tree(snap.path));
      }, { sizeMiB: 512 });
    }, { sizeMiB: 512, mountOptions: ["compress-force=zstd"] });
  },
});

Deno.test({
  name:
    "send capabilities report this kernel's send stream version and btrfs-progs' options",
  ignore: skipUnlessRoot(),
  fn: async () => {
    const caps = await sendCapabilities();
    const kernel = await run([
      "cat",
      "/sys/fs/btrfs/features/send_stream_version",
    ], { check: false }).then((r) => r.success ? Number(r.stdout.trim()) : 1);
    assert.equal(caps.kernelProtocol, kernel);
    const help = await run(["btrfs", "send", "--help"], { check: false });
    assert.equal(
      caps.progsCompressedData,
      /--compressed-data/.test(help.stdout + help.stderr),
    );
    assert.match(caps.progsVersion ?? "", /^\d+(\.\d+)*$/);
    assert.equal(
      caps.compressedData,
      kernel >= 2 && caps.progsCompressedData && caps.progsProtocol,
    );
  },
});

const _caps = (over: Partial<SendCapabilities>): SendCapabilities => ({
  progsVersion: "6.2",
  kernelProtocol: 2,
  progsProtocol: true,
  progsCompressedData: true,
  protocol2: true,
  compressedData: true,
  ...over,
});

Deno.test("unsupported send protocol options are refused with the reason and the fix", async () => {
  await assertSendOptionsSupported({ compressedData: true }, _caps({}));
  await assertSendOptionsSupported({}, _caps({ kernelProtocol: 1 }));
  await assert.rejects(
    assertSendOptionsSupported(
      { compressedData: true },
      _caps({ kernelProtocol: 1 }),
    ),
    /not supported by this kernel \(send stream version 1; needs Linux 6.0 or later\): turn the option off/,
  );
  await assert.rejects(
    assertSendOptionsSupported(
      { protocol: 2 },
      _caps({ progsProtocol: false, progsVersion: "5.10" }),
    ),
    /not supported by btrfs-progs 5.10 \(`btrfs send --help` lacks --proto\): upgrade btrfs-progs/,
  );
  await assert.rejects(
    assertSendOptionsSupported(
      { compressedData: true },
      _caps({ progsCompressedData: false }),
    ),
    /lacks --compressed-data/,
  );
  await assert.rejects(
    assertSendOptionsSupported({ protocol: 3 as 2 }, _caps({})),
    /send protocol 3 is unknown/,
  );
});

Deno.test("the first command of a send stream names the subvolume, its uuid and its parent", () => {
  const tlv = (type: number, value: Uint8Array): Uint8Array => {
    const out = new Uint8Array(4 + value.length);
    new DataView(out.buffer).setUint16(0, type, true);
    new DataView(out.buffer).setUint16(2, value.length, true);
    out.set(value, 4);
    return out;
  };
  const u64 = (n: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, n, true);
    return b;
  };
  const uuid = Uint8Array.from({ length: 16 }, (_, i) => i);
  const parent = Uint8Array.from({ length: 16 }, () => 0xff);
  const body = [
    tlv(15, new TextEncoder().encode("snap.2024")),
    tlv(1, uuid),
    tlv(2, u64(77n)),
    tlv(20, parent),
    tlv(21, u64(70n)),
  ];
  const bodyLen = body.reduce((n, t) => n + t.length, 0);
  const buf = new Uint8Array(17 + 10 + bodyLen + 5);
  buf.set(new TextEncoder().encode("btrfs-stream\0"));
  const dv = new DataView(buf.buffer);
  dv.setUint32(13, 1, true);
  dv.setUint32(17, bodyLen, true);
  dv.setUint16(21, 2, true); // SNAPSHOT
  let off = 27;
  for (const t of body) {
    buf.set(t, off);
    off += t.length;
  }
  assert.deepEqual(parseSendStreamHead(buf), {
    version: 1,
    name: "snap.2024",
    uuid: "00010203-0405-0607-0809-0a0b0c0d0e0f",
    ctransid: 77,
    parentUuid: "ffffffff-ffff-ffff-ffff-ffffffffffff",
  });
  assert.equal(parseSendStreamHead(buf.slice(0, 30)), null);
  assert.equal(parseSendStreamHead(new Uint8Array(100)), null);
});
