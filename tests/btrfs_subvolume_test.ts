import assert from "node:assert/strict";
import { withBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { BtrfsError } from "../lib/drivers/btrfs/errors.ts";
import {
  assertSameFilesystem,
  getSubvolumeInfo,
  isSubvolume,
  parseSubvolInfo,
} from "../lib/drivers/btrfs/subvolume.ts";
import { syncFilesystem } from "../lib/drivers/btrfs/snapshots.ts";

/** Fields of `btrfs subvolume show`, keyed by their label. */
async function show(path: string): Promise<Record<string, string>> {
  const out = (await run(["btrfs", "subvolume", "show", path])).stdout;
  const fields: Record<string, string> = {};
  for (const m of out.matchAll(/^\s+([A-Za-z ()]+):\s*(.*)$/gm)) {
    fields[m[1].trim()] = m[2].trim();
  }
  return fields;
}

function uuidOrNull(s: string): string | null {
  return s === "-" ? null : s;
}

Deno.test({
  name:
    "subvolume metadata matches btrfs subvolume show for a source, a snapshot and a received copy",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const src = `${fs.mountPoint}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.writeTextFile(`${src}/a.txt`, "hello");
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        src,
        `${fs.mountPoint}/snap`,
      ]);
      await Deno.mkdir(`${fs.mountPoint}/recv`);
      await run([
        "sh",
        "-c",
        `btrfs send -q "$1" | btrfs receive -q "$2"`,
        "sh",
        `${fs.mountPoint}/snap`,
        `${fs.mountPoint}/recv`,
      ]);
      for (
        const path of [
          src,
          `${fs.mountPoint}/snap`,
          `${fs.mountPoint}/recv/snap`,
        ]
      ) {
        const info = await getSubvolumeInfo(path);
        const f = await show(path);
        assert.equal(info.path, path);
        assert.equal(info.uuid, f["UUID"], path);
        assert.equal(info.parentUuid, uuidOrNull(f["Parent UUID"]), path);
        assert.equal(info.receivedUuid, uuidOrNull(f["Received UUID"]), path);
        assert.equal(info.id, Number(f["Subvolume ID"]), path);
        assert.equal(info.otransid, Number(f["Gen at creation"]), path);
        assert.ok(info.ctransid <= Number(f["Generation"]), path);
        assert.equal(info.readOnly, /readonly/.test(f["Flags"]), path);
        // `show` prints otime as "Creation time" to the second, with its offset.
        const shown = Date.parse(
          f["Creation time"].replace(" ", "T").replace(
            / ([+-]\d\d)(\d\d)$/,
            "$1:$2",
          ),
        );
        assert.equal(
          Math.floor(info.otime.epochMilliseconds / 1000),
          shown / 1000,
          path,
        );
      }
      const snap = await getSubvolumeInfo(`${fs.mountPoint}/snap`);
      const source = await getSubvolumeInfo(src);
      const received = await getSubvolumeInfo(`${fs.mountPoint}/recv/snap`);
      assert.equal(snap.parentUuid, source.uuid);
      assert.equal(received.receivedUuid, snap.uuid);
      assert.equal(snap.ctransid, source.ctransid);
      assert.ok(snap.readOnly && !source.readOnly && received.readOnly);
      // The top-level subvolume is id 5.
      assert.equal((await getSubvolumeInfo(fs.mountPoint)).id, 5);
    });
  },
});

Deno.test({
  name: "ctransid rises after a write and stays after a read",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const src = `${fs.mountPoint}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.writeTextFile(`${src}/f`, "one");
      await syncFilesystem(src);
      const before = await getSubvolumeInfo(src);
      await Deno.writeTextFile(`${src}/f`, "two", { append: true });
      await syncFilesystem(src);
      const afterWrite = await getSubvolumeInfo(src);
      assert.ok(afterWrite.ctransid > before.ctransid);
      assert.ok(
        Temporal.Instant.compare(afterWrite.ctime, before.ctime) >= 0,
      );
      // The first reads after a write may update atimes (relatime), which is a change; later ones are not.
      const reads = async () => {
        assert.equal(await Deno.readTextFile(`${src}/f`), "onetwo");
        await Array.fromAsync(Deno.readDir(src));
        await syncFilesystem(src);
      };
      await reads();
      const settled = await getSubvolumeInfo(src);
      await reads();
      const afterRead = await getSubvolumeInfo(src);
      assert.equal(afterRead.ctransid, settled.ctransid);
      assert.equal(
        afterRead.ctime.epochNanoseconds,
        settled.ctime.epochNanoseconds,
      );
    });
  },
});

Deno.test({
  name:
    "a plain directory, a file and a non-btrfs path are refused with clear errors",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      await Deno.mkdir(`${fs.mountPoint}/dir`);
      await Deno.writeTextFile(`${fs.mountPoint}/file`, "x");
      await assert.rejects(
        getSubvolumeInfo(`${fs.mountPoint}/dir`),
        (e: unknown) =>
          e instanceof BtrfsError && e.code === "not-subvolume" &&
          /plain directory, not a btrfs subvolume/.test(e.message),
      );
      await assert.rejects(
        getSubvolumeInfo(`${fs.mountPoint}/file`),
        (e: unknown) => e instanceof BtrfsError && e.code === "not-subvolume",
      );
      await assert.rejects(
        getSubvolumeInfo(`${fs.mountPoint}/missing`),
        (e: unknown) => e instanceof BtrfsError && e.code === "not-found",
      );
      assert.equal(await isSubvolume(`${fs.mountPoint}/dir`), false);
      assert.equal(await isSubvolume(fs.mountPoint), true);
      const other = await Deno.makeTempDir();
      try {
        // The temp dir is on whatever the host uses; skip the check if that is btrfs.
        if (!(await isSubvolume(other)) && !(await _onBtrfs(other))) {
          await assert.rejects(
            getSubvolumeInfo(other),
            (e: unknown) =>
              e instanceof BtrfsError && e.code === "not-btrfs" &&
              /not on a btrfs filesystem/.test(e.message),
          );
        }
      } finally {
        await Deno.remove(other);
      }
    });
  },
});

async function _onBtrfs(path: string): Promise<boolean> {
  const r = await run(["stat", "-f", "-c", "%T", path]);
  return r.stdout.trim() === "btrfs";
}

Deno.test({
  name:
    "two btrfs filesystems are told apart even though every subvolume has its own device number",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        await run(["btrfs", "subvolume", "create", `${a.mountPoint}/src`]);
        await Deno.mkdir(`${a.mountPoint}/snaps`);
        assertSameFilesystem(`${a.mountPoint}/src`, `${a.mountPoint}/snaps`);
        assert.throws(
          () => assertSameFilesystem(`${a.mountPoint}/src`, b.mountPoint),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "cross-filesystem" &&
            /not on .* with/.test(e.message),
        );
      }, { sizeMiB: 256 });
    }, { sizeMiB: 256 });
  },
});

Deno.test("subvolume info struct decodes uuids, transids, times and the read-only flag", () => {
  const buf = new Uint8Array(504);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, 257n, true);
  dv.setBigUint64(288, 1n, true); // BTRFS_ROOT_SUBVOL_RDONLY
  buf.set(Array.from({ length: 16 }, (_, i) => i + 1), 296);
  buf.set(Array.from({ length: 16 }, () => 0xab), 312);
  dv.setBigUint64(344, 42n, true);
  dv.setBigUint64(352, 7n, true);
  dv.setBigInt64(376, 1700000000n, true);
  dv.setUint32(384, 123456789, true);
  dv.setBigInt64(392, 1600000000n, true);
  const info = parseSubvolInfo("/x", buf);
  assert.deepEqual(
    { ...info, ctime: info.ctime.toString(), otime: info.otime.toString() },
    {
      path: "/x",
      id: 257,
      uuid: "01020304-0506-0708-090a-0b0c0d0e0f10",
      parentUuid: "abababab-abab-abab-abab-abababababab",
      receivedUuid: null,
      ctransid: 42,
      otransid: 7,
      ctime: "2023-11-14T22:13:20.123456789Z",
      otime: "2020-09-13T12:26:40Z",
      readOnly: true,
    },
  );
});

Deno.test("a ctransid above 2^53 is refused rather than rounded", () => {
  const buf = new Uint8Array(504);
  new DataView(buf.buffer).setBigUint64(344, 2n ** 53n + 1n, true);
  assert.throws(
    () => parseSubvolInfo("/x", buf),
    (e: unknown) =>
      e instanceof BtrfsError && e.code === "too-large" &&
      /ctransid of \/x is 9007199254740993/.test(e.message),
  );
});
