import assert from "node:assert/strict";
import { dirname } from "node:path";
import { withBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { BtrfsError } from "../lib/drivers/btrfs/errors.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/subvolume.ts";
import {
  createSnapshot,
  destroySnapshot,
  listSnapshots,
  renameSnapshot,
  syncFilesystem,
} from "../lib/drivers/btrfs/snapshots.ts";

async function subvolumeList(mountPoint: string): Promise<string[]> {
  const out = (await run(["btrfs", "subvolume", "list", "-o", mountPoint]))
    .stdout;
  return [...out.matchAll(/ path (.+)$/gm)].map((m) => m[1]).sort();
}

Deno.test({
  name:
    "only read-only children of the snapshot dir whose parent is the source count as its snapshots",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const m = fs.mountPoint;
      const src = `${m}/src`;
      const snaps = `${m}/snaps`;
      await run(["btrfs", "subvolume", "create", src]);
      await run(["btrfs", "subvolume", "create", `${m}/other`]);
      await Deno.mkdir(snaps);
      await Deno.mkdir(`${snaps}/nested`);
      await Deno.writeTextFile(`${src}/f`, "1");
      // Names are not parsed: any name counts, btrfs2s3's or not.
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        src,
        `${snaps}/whatever`,
      ]);
      await Deno.writeTextFile(`${src}/f`, "2");
      await syncFilesystem(src);
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        src,
        `${snaps}/src.2024-01-01T00:00:00+00:00.9`,
      ]);
      // Not snapshots of src: writable, foreign, nested, plain dir, symlink, file.
      await run(["btrfs", "subvolume", "snapshot", src, `${snaps}/writable`]);
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        `${m}/other`,
        `${snaps}/foreign`,
      ]);
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        src,
        `${snaps}/nested/deep`,
      ]);
      await Deno.mkdir(`${snaps}/plain`);
      await Deno.symlink(`${snaps}/whatever`, `${snaps}/link`);
      await Deno.writeTextFile(`${snaps}/file`, "");
      const found = await listSnapshots(src, snaps);
      assert.deepEqual(found.map((s) => s.path), [
        `${snaps}/whatever`,
        `${snaps}/src.2024-01-01T00:00:00+00:00.9`,
      ]);
      const source = await getSubvolumeInfo(src);
      for (const s of found) {
        assert.equal(s.parentUuid, source.uuid);
        assert.ok(s.readOnly);
      }
      assert.ok(found[0].ctransid < found[1].ctransid);
      // A SubvolumeInfo works as the source too.
      assert.deepEqual(
        (await listSnapshots(source, snaps)).map((s) => s.uuid),
        found.map((s) => s.uuid),
      );
      await assert.rejects(
        listSnapshots(src, `${m}/missing`),
        (e: unknown) =>
          e instanceof BtrfsError && e.code === "not-found" &&
          /does not exist: create it/.test(e.message),
      );
    });
  },
});

Deno.test({
  name:
    "a snapshot is created read-only, renamed without replacing anything, and destroyed",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const m = fs.mountPoint;
      const src = `${m}/src`;
      const snaps = `${m}/snaps`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.mkdir(snaps);
      await Deno.writeTextFile(`${src}/f`, "data");
      await syncFilesystem(src);
      const source = await getSubvolumeInfo(src);
      const created = await createSnapshot(src, snaps, `src.NEW.${Deno.pid}`);
      assert.equal(created.path, `${snaps}/src.NEW.${Deno.pid}`);
      assert.ok(created.readOnly);
      assert.equal(created.parentUuid, source.uuid);
      assert.equal(created.ctransid, source.ctransid);
      assert.equal(await Deno.readTextFile(`${created.path}/f`), "data");
      await assert.rejects(
        createSnapshot(src, snaps, `src.NEW.${Deno.pid}`),
        (e: unknown) => e instanceof BtrfsError && e.code === "exists",
      );
      await assert.rejects(
        createSnapshot(src, snaps, "a/b"),
        /invalid snapshot name/,
      );

      const name = `src.${
        source.ctime.toZonedDateTimeISO("UTC").toString({
          smallestUnit: "second",
          timeZoneName: "never",
        })
      }.${source.ctransid}`;
      const renamed = await renameSnapshot(created.path, name);
      assert.equal(renamed.path, `${snaps}/${name}`);
      assert.equal(renamed.uuid, created.uuid);
      await assert.rejects(Deno.stat(created.path), Deno.errors.NotFound);

      // Renaming onto an existing (even empty) directory replaces nothing.
      const second = await createSnapshot(src, snaps, "second");
      await Deno.mkdir(`${snaps}/empty`);
      await assert.rejects(
        renameSnapshot(second.path, "empty"),
        (e: unknown) =>
          e instanceof BtrfsError && e.code === "exists" &&
          /already exists; nothing was replaced/.test(e.message),
      );
      await assert.rejects(renameSnapshot(second.path, name), /already exists/);
      assert.ok((await Deno.stat(`${snaps}/empty`)).isDirectory);
      assert.equal((await getSubvolumeInfo(second.path)).uuid, second.uuid);

      await destroySnapshot(renamed.path, { uuid: renamed.uuid });
      await assert.rejects(Deno.stat(renamed.path), Deno.errors.NotFound);
      assert.deepEqual(
        (await listSnapshots(src, snaps)).map((s) => s.uuid),
        [second.uuid],
      );
      assert.deepEqual(await subvolumeList(m), ["snaps/second", "src"]);
    });
  },
});

Deno.test({
  name: "destroy refuses a writable subvolume and a snapshot with another uuid",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const m = fs.mountPoint;
      await run(["btrfs", "subvolume", "create", `${m}/src`]);
      await Deno.mkdir(`${m}/snaps`);
      const snap = await createSnapshot(`${m}/src`, `${m}/snaps`, "s");
      await assert.rejects(
        destroySnapshot(`${m}/src`),
        (e: unknown) =>
          e instanceof BtrfsError && e.code === "not-snapshot" &&
          /writable subvolume/.test(e.message),
      );
      await assert.rejects(
        destroySnapshot(snap.path, {
          uuid: "00000000-0000-0000-0000-000000000001",
        }),
        /its uuid is .*, not the planned/,
      );
      await Deno.mkdir(`${m}/snaps/plain`);
      await assert.rejects(
        destroySnapshot(`${m}/snaps/plain`),
        (e: unknown) => e instanceof BtrfsError && e.code === "not-subvolume",
      );
      assert.deepEqual(await subvolumeList(m), ["snaps/s", "src"]);
    });
  },
});

Deno.test({
  name:
    "a snapshot dir on another btrfs filesystem or a source that is not a subvolume is refused",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (a) => {
      await withBtrfs(async (b) => {
        await run(["btrfs", "subvolume", "create", `${a.mountPoint}/src`]);
        await Deno.mkdir(`${a.mountPoint}/plain`);
        await assert.rejects(
          createSnapshot(`${a.mountPoint}/src`, b.mountPoint, "x"),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "cross-filesystem" &&
            /choose a snapshot directory there/.test(e.message),
        );
        await assert.rejects(
          listSnapshots(`${a.mountPoint}/src`, b.mountPoint),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "cross-filesystem",
        );
        await assert.rejects(
          createSnapshot(`${a.mountPoint}/plain`, a.mountPoint, "x"),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === "not-subvolume" &&
            /btrfs subvolume create/.test(e.message),
        );
        assert.deepEqual(await subvolumeList(b.mountPoint), []);
      }, { sizeMiB: 256 });
    }, { sizeMiB: 256 });
  },
});

Deno.test({
  name:
    "an update-style sync right after a write shows the new ctransid, so a snapshot is due and captures the write",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const m = fs.mountPoint;
      const src = `${m}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      await Deno.mkdir(`${m}/snaps`);
      await Deno.writeTextFile(`${src}/f`, "old");
      await syncFilesystem(src);
      const first = await createSnapshot(src, `${m}/snaps`, "first");
      for (let i = 0; i < 3; i++) {
        // Write, then immediately do what `update` does: sync, read, compare,
        // snapshot. An append (no create, no truncate) reaches ctransid only
        // through a commit, which is what the sync is for.
        await Deno.writeTextFile(`${src}/f`, ` new ${i}`, { append: true });
        await syncFilesystem(src);
        const source = await getSubvolumeInfo(src);
        const snaps = await listSnapshots(source, `${m}/snaps`);
        assert.ok(snaps.length >= 1);
        assert.ok(
          snaps.every((s) => source.ctransid > s.ctransid),
          `source ctransid ${source.ctransid} not above ${
            snaps.map((s) => s.ctransid)
          }`,
        );
        const made = await createSnapshot(src, `${m}/snaps`, `n${i}`);
        assert.equal(made.ctransid, source.ctransid);
        assert.match(
          await Deno.readTextFile(`${made.path}/f`),
          new RegExp(` new ${i}$`),
        );
      }
      // With no write since, the source is not newer than its newest snapshot.
      await syncFilesystem(src);
      const source = await getSubvolumeInfo(src);
      const newest = (await listSnapshots(source, `${m}/snaps`)).at(-1)!;
      assert.equal(source.ctransid, newest.ctransid);
      assert.ok(first.ctransid < newest.ctransid);
    });
  },
});

/** Runs a snippet as user nobody with Deno, importing the driver; returns its output. */
async function runAsNobody(
  code: string,
): Promise<{ ok: boolean; out: string }> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.mkdir(`${dir}/deno`);
    await run(["chown", "65534:65534", `${dir}/deno`]);
    const driver =
      new URL("../lib/drivers/btrfs/snapshots.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import * as d from ${JSON.stringify(driver)};\n${code}\n`,
    );
    const r = await run([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      Deno.execPath(),
      "run",
      "--no-config",
      "--no-lock",
      "--allow-read",
      "--allow-ffi",
      "--allow-run=btrfs",
      `${dir}/script.ts`,
    ], { check: false, env: { DENO_DIR: `${dir}/deno`, NO_COLOR: "1" } });
    return { ok: r.success, out: r.stdout + r.stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const allowed of [true, false]) {
  Deno.test({
    name: allowed
      ? "a non-root owner destroys a read-only snapshot where the filesystem has user_subvol_rm_allowed"
      : "a non-root user gets an error naming user_subvol_rm_allowed where the filesystem lacks it, and the snapshot is untouched",
    ignore: skipUnlessRoot(),
    fn: async () => {
      await withBtrfs(async (fs) => {
        const m = fs.mountPoint;
        // The fixture's temp dir is private; let the unprivileged user reach the mount.
        await Deno.chmod(dirname(m), 0o755);
        await run(["btrfs", "subvolume", "create", `${m}/src`]);
        await Deno.mkdir(`${m}/snaps`);
        await run(["chown", "65534:65534", `${m}/src`, `${m}/snaps`]);
        const snap = await createSnapshot(`${m}/src`, `${m}/snaps`, "s");
        const r = await runAsNobody(
          `await d.destroySnapshot(${JSON.stringify(snap.path)});`,
        );
        if (allowed) {
          assert.ok(r.ok, r.out);
          assert.deepEqual(await subvolumeList(m), ["src"]);
        } else {
          assert.ok(!r.ok);
          assert.match(r.out, /not permitted to destroy snapshot/);
          assert.match(r.out, /user_subvol_rm_allowed/);
          const still = await getSubvolumeInfo(snap.path);
          assert.ok(still.readOnly);
          assert.equal(still.uuid, snap.uuid);
        }
      }, {
        sizeMiB: 256,
        mountOptions: allowed ? ["user_subvol_rm_allowed"] : [],
      });
    },
  });
}
