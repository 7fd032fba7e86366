/**
 * The planning guards as a user meets them, through the command line, on
 * real loop-mounted btrfs with a local-directory remote: a clock set back,
 * a clock three years ahead, a broken chain, foreign snapshots.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { type BtrfsFixture, createBtrfs } from "./fixtures/btrfs.ts";
import { treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import {
  createSnapshot,
  destroySnapshot,
  getSubvolumeInfo,
  renameSnapshot,
  syncFilesystem,
} from "../lib/drivers/btrfs/driver.ts";
import { encodeKey, parseKey } from "../lib/core/keys.ts";
import { snapshotName } from "../lib/core/snapshot_names.ts";
import type { SubvolumeInfo } from "../lib/core/types.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
];

/** Runs the CLI; with `clock`, under faketime (`"2000-01-01 00:00:00"`, `"+3y"`). */
function cli(args: string[], clock?: string) {
  const argv = [Deno.execPath(), "run", ...FLAGS, CLI, ...args];
  return run(clock === undefined ? argv : ["faketime", "-f", clock, ...argv], {
    check: false,
    env: { NO_COLOR: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" },
  });
}

interface Env extends AsyncDisposable {
  fs: BtrfsFixture;
  data: string;
  snaps: string;
  remote: string;
  config: string;
}

async function setup(preserve: string): Promise<Env> {
  const fs = await createBtrfs({ sizeMiB: 512 });
  const data = `${fs.mountPoint}/data`;
  const snaps = `${fs.mountPoint}/snapshots`;
  const remote = `${fs.mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(snaps);
  await Deno.mkdir(remote);
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.ts`;
  await Deno.writeTextFile(
    config,
    `export default ${
      JSON.stringify({
        timezone: "UTC",
        remotes: [{ kind: "local", id: "usb", path: remote }],
        sources: [{
          kind: "btrfs",
          path: data,
          snapshots: snaps,
          upload: [{ remote: "usb", preserve }],
        }],
      })
    };\n`,
  );
  return {
    fs,
    data,
    snaps,
    remote,
    config,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
      await fs[Symbol.asyncDispose]();
    },
  };
}

/** Everything in the snapshot directory and the remote, by name. */
async function state(env: Env): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      out.push(`${rel}${e.name}`);
      if (e.isDirectory && rel.startsWith("remote")) {
        await walk(`${dir}/${e.name}`, `${rel}${e.name}/`);
      }
    }
  };
  await walk(env.snaps, "snapshots/");
  await walk(env.remote, "remote/");
  return out.sort();
}

/** The remote's backups, parsed from its top-level keys. */
async function backups(env: Env) {
  const out = [];
  for await (const e of Deno.readDir(env.remote)) {
    const k = parseKey(e.name);
    if (e.isFile && k.ok) out.push({ ...k.key, file: e.name });
  }
  return out.sort((a, b) => a.ctransid - b.ctransid);
}

async function snapshotNames(env: Env): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(env.snaps))).map((e) => e.name)
    .sort();
}

async function write(env: Env, name: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${env.data}/${name}`, text);
}

async function update(env: Env, extra: string[] = [], clock?: string) {
  const r = await cli(["update", env.config, "--force", ...extra], clock);
  return { ...r, all: r.stdout + r.stderr };
}

Deno.test({
  name:
    "a clock set back refuses with exit 2 and changes nothing; three years ahead the mass-deletion guard stops the run until --allow-mass-delete",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup("1y 60s");
    // Several snapshots a second apart: each is its own second's nominal and kept.
    for (let i = 1; i <= 5; i++) {
      await write(env, "f.txt", `version ${i}\n`);
      const r = await update(env);
      assert.equal(r.code, 0, r.all);
      await new Promise((r) => setTimeout(r, 1100));
    }
    const kept = await snapshotNames(env);
    assert.ok(kept.length >= 4, kept.join());

    await write(env, "f.txt", "written while the clock is wrong\n");
    const before = await state(env);
    const back = await update(env, [], "@2000-01-01 00:00:00");
    assert.equal(back.code, 2, back.all);
    assert.match(
      back.stderr,
      /snap2s3: the clock reads 2000-01-01T00:00:\d\d\+00:00, \d+ years earlier than \S+\/snapshots\/data\.\S+ of source \S+\/data .*timedatectl set-ntp true.*nothing was created or deleted/,
    );
    assert.deepEqual(await state(env), before, "nothing created or deleted");

    // A day behind is refused too; five minutes is within the tolerance.
    const day = await update(env, ["--pretend"], "-1d");
    assert.equal(day.code, 2, day.all);
    assert.match(day.stderr, /the clock reads .*24 hours earlier/);
    const slightly = await update(env, ["--pretend"], "-5m");
    assert.equal(slightly.code, 0, slightly.all);

    const ahead = await update(env, [], "+3y");
    assert.equal(ahead.code, 2, ahead.all);
    assert.match(
      ahead.stdout,
      /Mass-deletion guard: this run stops unless --allow-mass-delete is given:\n +would delete \d+ of \d+ backups in remote usb/,
    );
    assert.match(ahead.stdout, /would destroy \d+ of \d+ snapshots/);
    assert.match(
      ahead.stderr,
      /snap2s3: refusing to remove more than half of what a source has: source \S+\/data would delete \d+ of \d+ backups in remote usb.*--allow-mass-delete/,
    );
    assert.deepEqual(
      await state(env),
      before,
      "the guard acts before anything",
    );

    const allowed = await update(env, ["--allow-mass-delete"], "+3y");
    assert.equal(allowed.code, 0, allowed.all);
    assert.match(
      allowed.stdout,
      /Mass deletion, allowed by --allow-mass-delete/,
    );
    assert.match(allowed.all, /destroyed snapshot/);
    // Three years on, one run keeps the newest snapshot and the chain its backup needs.
    const left = await snapshotNames(env);
    assert.equal(left.length, 1, left.join());
    const bs = await backups(env);
    const uuids = new Set(bs.map((b) => b.uuid));
    for (const b of bs) {
      assert.ok(b.sendParentUuid === null || uuids.has(b.sendParentUuid));
    }
  },
});

/** A read-only snapshot of the source, renamed to snap2s3's name for it. */
async function ourSnapshot(env: Env): Promise<SubvolumeInfo> {
  await syncFilesystem(env.data);
  const made = await createSnapshot(env.data, env.snaps, "data.NEW.1");
  return await renameSnapshot(
    made.path,
    snapshotName("data", made.ctime, made.ctransid, "UTC"),
  );
}

/** What `update` would upload, written by hand: `btrfs send [-p parent]` into the remote. */
async function sendByHand(
  env: Env,
  snap: SubvolumeInfo,
  parent: SubvolumeInfo | null,
): Promise<string> {
  const source = await getSubvolumeInfo(env.data);
  const key = encodeKey({
    name: "data",
    ctime: snap.ctime,
    ctransid: snap.ctransid,
    uuid: snap.uuid,
    sendParentUuid: parent?.uuid ?? null,
    sourceUuid: source.uuid,
    seqn: 0,
    suffixes: [],
  }, "UTC");
  const p = parent ? `-p "${parent.path}"` : "";
  await run([
    "bash",
    "-c",
    `btrfs send -q ${p} "$1" > "$2"`,
    "-",
    snap.path,
    `${env.remote}/${key}`,
  ]);
  return key;
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function restoreAll(env: Env, dst: BtrfsFixture) {
  const r = await cli(["restore", env.config, dst.mountPoint, "usb"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r;
}

Deno.test({
  name:
    "full <- S2 <- S3 with S2's object deleted by hand: S3 is sent again from the full, the broken backup goes after it, and everything restores",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    for (const s2SnapshotToo of [true, false]) {
      await t.step(
        s2SnapshotToo
          ? "S2's snapshot is gone as well"
          : "S2's snapshot is still there",
        async () => {
          await using env = await setup("1y 1d");
          await using dst = await createBtrfs({ sizeMiB: 512 });
          await write(env, "a.txt", "one\n");
          const s1 = await ourSnapshot(env);
          await write(env, "b.txt", "two\n");
          const s2 = await ourSnapshot(env);
          await write(env, "c.txt", "three\n");
          const s3 = await ourSnapshot(env);
          await sendByHand(env, s1, null);
          const k2 = await sendByHand(env, s2, s1);
          await sendByHand(env, s3, s2);
          await Deno.remove(`${env.remote}/${k2}`);
          if (s2SnapshotToo) await destroySnapshot(s2.path);

          const r = await update(env);
          assert.equal(r.code, 0, r.all);
          const lines = r.all.split("\n");
          const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
          if (s2SnapshotToo) {
            // Nothing can restore S3's backup: S3 goes again, against the full.
            assert.match(r.stdout, /repair/);
            const up = at(
              new RegExp(
                `uploading ${
                  esc(basename(s3.path))
                } to usb \\(differential from ${esc(basename(s1.path))}\\)`,
              ),
            );
            const del = at(
              new RegExp(`deleted backup ${esc(basename(s3.path))} from usb`),
            );
            assert.ok(up >= 0 && del > up, r.all);
            assert.deepEqual(
              await snapshotNames(env),
              [basename(s1.path), basename(s3.path)].sort(),
            );
          } else {
            // S2's snapshot can make S3's backup whole again: S2 goes again, then its snapshot.
            const up = at(
              new RegExp(
                `uploading ${
                  esc(basename(s2.path))
                } to usb \\(differential from ${esc(basename(s1.path))}\\)`,
              ),
            );
            const destroyed = at(
              new RegExp(`destroyed snapshot ${esc(basename(s2.path))}$`),
            );
            assert.ok(up >= 0 && destroyed > up, r.all);
            assert.ok(
              !r.all.includes(`deleted backup ${basename(s3.path)} from usb`),
            );
          }
          const bs = await backups(env);
          const uuids = new Set(bs.map((b) => b.uuid));
          for (const b of bs) {
            assert.ok(
              b.sendParentUuid === null || uuids.has(b.sendParentUuid),
              `${b.file} restorable`,
            );
          }
          assert.ok(bs.some((b) => b.uuid === s3.uuid));
          // Every listed backup restores; the latest snapshot's files are identical.
          await restoreAll(env, dst);
          assert.deepEqual(
            await treeSums(`${dst.mountPoint}/${basename(s3.path)}`),
            await treeSums(s3.path),
          );
          const again = await update(env);
          assert.match(again.all, /nothing to do/);
        },
      );
    }
  },
});

Deno.test({
  name:
    "foreign read-only snapshots of the source survive ten update cycles untouched and are never sent against",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup("1y 1d 2s");
    await write(env, "f.txt", "before the upgrade\n");
    await syncFilesystem(env.data);
    const foreign: SubvolumeInfo[] = [];
    for (const name of ["before-upgrade", "data.20241201T2201"]) {
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        env.data,
        `${env.snaps}/${name}`,
      ]);
      foreign.push(await getSubvolumeInfo(`${env.snaps}/${name}`));
    }
    const pretend = await cli(["update", env.config, "--pretend"]);
    assert.match(
      pretend.stdout,
      /Foreign snapshots \(not named by snap2s3: never renamed, destroyed or sent against\):\n +foreign (before-upgrade|data\.20241201T2201)\n +foreign (before-upgrade|data\.20241201T2201)\n/,
      pretend.stderr,
    );
    assert.match(pretend.stdout, /foreign before-upgrade\n/);
    assert.match(pretend.stdout, /foreign data\.20241201T2201\n/);
    for (let cycle = 1; cycle <= 10; cycle++) {
      await write(env, "f.txt", `cycle ${cycle}\n`);
      const r = await update(env);
      assert.equal(r.code, 0, r.all);
      assert.ok(
        !/before-upgrade|20241201T2201/.test(
          r.all.replace(/.*foreign .*\n/g, ""),
        ),
        r.all,
      );
      await new Promise((r) => setTimeout(r, 1100));
    }
    for (const f of foreign) {
      const now = await getSubvolumeInfo(f.path);
      assert.equal(now.uuid, f.uuid);
      assert.equal(now.ctransid, f.ctransid);
    }
    const parents = new Set((await backups(env)).map((b) => b.sendParentUuid));
    for (const f of foreign) assert.ok(!parents.has(f.uuid));
    assert.ok(
      (await backups(env)).every((b) =>
        !foreign.some((f) => f.uuid === b.uuid)
      ),
    );
  },
});
