/**
 * We manage only what is ours, on real btrfs: copies and partials beside the
 * backups in a local remote, and keys under other prefixes of a bucket, are
 * never touched and never disturb restore or list-backups; an unmounted local
 * remote is refused; a manifest left without its backup is cleaned up.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { listBackups, restore, update } from "../mod.ts";
import type { ConfigInput } from "../mod.ts";
import { main } from "../cli.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { UnmarkedRemoteError } from "../lib/drivers/remote/errors.ts";
import { REMOTE_MARKER } from "../lib/drivers/remote/local_dir.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import {
  MANIFEST_PREFIX,
  manifestKey,
} from "../lib/drivers/transfer/manifest.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

/** A source subvolume, a restore filesystem, and a config uploading to `remote`. */
async function setup(remote: ConfigInput["remotes"][number]) {
  const src = await createBtrfs({ sizeMiB: 512 });
  const dst = await createBtrfs({ sizeMiB: 512 });
  const data = `${src.mountPoint}/data`;
  await run(["btrfs", "subvolume", "create", data]);
  const config = (preserve: string): ConfigInput => ({
    timezone: "UTC",
    remotes: [remote],
    sources: [{
      kind: "btrfs",
      path: data,
      snapshots: `${src.mountPoint}/snaps`,
      upload: [{ remote: remote.id, preserve }],
    }],
  });
  return {
    src,
    dst,
    data,
    config,
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dst.close();
    },
  };
}

/** Every file under `dir` (relative paths), sorted. */
function filesUnder(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(rel ? `${dir}/${rel}` : dir)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...filesUnder(dir, p));
    else out.push(p);
  }
  return out.sort();
}

function backupKeys(dir: string): string[] {
  return filesUnder(dir).filter((k) =>
    !k.includes("/") && !k.startsWith(".") && k.includes(".mdvn")
  );
}

async function cycle(data: string, n: number): Promise<void> {
  await Deno.writeFile(`${data}/file-${n}.bin`, randomBytes(200_000));
  // Snapshot names and the seconds-level policy need distinct seconds.
  await new Promise((r) => setTimeout(r, 1100));
}

Deno.test({
  name:
    "an archive/ copy and a dot-partial in a local remote survive update cycles and do not affect restore or list-backups",
  ignore: skipUnlessRoot(),
  fn: async () => {
    const remoteDir = await Deno.makeTempDir({ prefix: "snap2s3-own-" });
    await using env = await setup({
      kind: "local",
      id: "usb",
      path: remoteDir,
    });
    try {
      const config = env.config("1y 2s");
      await cycle(env.data, 1);
      assert.ok((await update(config, { force: true })).ok);
      await cycle(env.data, 2);
      assert.ok((await update(config, { force: true })).ok);
      // Copy the second (differential) backup, which the policy drops later.
      const second = backupKeys(remoteDir)[1];
      const bytes = await Deno.readFile(`${remoteDir}/${second}`);
      await Deno.mkdir(`${remoteDir}/archive`);
      const copies = [`archive/${second}`, `.${second}.Xy12Ab`];
      for (const c of copies) await Deno.writeFile(`${remoteDir}/${c}`, bytes);
      for (let n = 3; n <= 6; n++) {
        await cycle(env.data, n);
        const r = await update(config, { force: true });
        assert.ok(r.ok, r.summary);
      }
      assert.ok(
        !backupKeys(remoteDir).includes(second),
        "the copied backup itself was deleted by the policy",
      );
      for (const c of copies) {
        assert.deepEqual(await Deno.readFile(`${remoteDir}/${c}`), bytes, c);
      }
      const listing = await listBackups(config, "usb");
      const listed = listing.sources.flatMap((s) => s.backups);
      assert.deepEqual(
        listed.flatMap((b) => b.keys).sort(),
        backupKeys(remoteDir),
      );
      assert.deepEqual(listing.foreign, []);
      assert.deepEqual(listing.incomplete, []);
      const restored = await restore(config, {
        dest: env.dst.mountPoint,
        remote: "usb",
      });
      assert.equal(restored.received.length, listed.length);
      assert.equal(restored.unverified, 0);
      const snaps = `${env.src.mountPoint}/snaps`;
      for (const s of Deno.readDirSync(snaps)) {
        assert.deepEqual(
          await treeSums(`${env.dst.mountPoint}/${basename(s.name)}`),
          await treeSums(`${snaps}/${s.name}`),
        );
      }
    } finally {
      await Deno.remove(remoteDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "an unmounted local remote is refused (exit 2, nothing written) until --init-remote",
  ignore: skipUnlessRoot(),
  fn: async () => {
    const mnt = await Deno.makeTempDir({ prefix: "snap2s3-usb-" });
    await using env = await setup({ kind: "local", id: "usb", path: mnt });
    const configPath = `${env.src.mountPoint}/policy.ts`;
    await Deno.writeTextFile(
      configPath,
      `export default ${JSON.stringify(env.config("1y 1d"))};\n`,
    );
    try {
      await run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]);
      try {
        await cycle(env.data, 1);
        assert.ok((await update(env.config("1y 1d"), { force: true })).ok);
        assert.ok(Deno.statSync(`${mnt}/${REMOTE_MARKER}`).isFile);
        assert.equal(backupKeys(mnt).length, 1);
      } finally {
        await run(["umount", mnt]);
      }
      // The disk is gone: the mount point is an empty directory again.
      const snaps = `${env.src.mountPoint}/snaps`;
      const before = filesUnder(snaps, "").length;
      await cycle(env.data, 2);
      await assert.rejects(
        update(env.config("1y 1d"), { force: true }),
        (e) => {
          assert.ok(e instanceof UnmarkedRemoteError, String(e));
          assert.match(e.message, /is the disk mounted\?.*--init-remote/);
          return true;
        },
      );
      const out = memoryOutput();
      assert.equal(await main(["update", configPath, "--force"], out), 2);
      assert.match(
        out.stderr.join("\n"),
        /remote usb: .* has no snap2s3 marker \(\.snap2s3-remote\) although .*data already has snapshots: is the disk mounted\?/,
      );
      assert.deepEqual([...Deno.readDirSync(mnt)], [], "nothing written");
      assert.equal(filesUnder(snaps, "").length, before, "no snapshot made");
      // The user says the directory is new for the remote.
      const out2 = memoryOutput();
      assert.equal(
        await main(["update", configPath, "--force", "--init-remote"], out2),
        0,
        out2.stderr.join("\n"),
      );
      assert.ok(Deno.statSync(`${mnt}/${REMOTE_MARKER}`).isFile);
      assert.ok(backupKeys(mnt).length >= 1);
      assert.ok((await update(env.config("1y 1d"), { force: true })).ok);
    } finally {
      await run(["umount", mnt], { check: false });
      await Deno.remove(mnt, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "update deletes a manifest whose backup is absent once it is an hour old, and keeps every other",
  ignore: skipUnlessRoot(),
  fn: async () => {
    const remoteDir = await Deno.makeTempDir({ prefix: "snap2s3-own-" });
    await using env = await setup({
      kind: "local",
      id: "usb",
      path: remoteDir,
    });
    try {
      const config = env.config("1y 1d");
      await cycle(env.data, 1);
      assert.ok((await update(config, { force: true })).ok);
      const [key] = backupKeys(remoteDir);
      const own = manifestKey(key);
      // An upload killed after its manifest: the manifest, no object.
      const gone = key.replace(/ctid\d+/, "ctid999999");
      const old = manifestKey(gone);
      const young = manifestKey(gone.replace("ctid999999", "ctid999998"));
      for (const m of [old, young]) {
        await Deno.copyFile(`${remoteDir}/${own}`, `${remoteDir}/${m}`);
      }
      const hourAgo = new Date(Date.now() - 61 * 60_000);
      await Deno.utime(`${remoteDir}/${old}`, hourAgo, hourAgo);
      const out = memoryOutput();
      const r = await update(config, { force: true, output: out });
      assert.equal(r.summary, "nothing to do");
      assert.deepEqual(
        filesUnder(remoteDir).filter((k) => k.startsWith(MANIFEST_PREFIX)),
        [own, young].sort(),
      );
      assert.ok(
        out.stdout.join("\n").includes(
          `usb: deleted manifest ${old}: its backup is absent`,
        ),
      );
      // A pretend run deletes nothing.
      await Deno.utime(`${remoteDir}/${young}`, hourAgo, hourAgo);
      await update(config, { pretend: true });
      assert.ok(Deno.statSync(`${remoteDir}/${young}`).isFile);
    } finally {
      await Deno.remove(remoteDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "on Ceph, keys under another prefix, deeper keys and dot names are untouched by update cycles",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    const s3 = {
      bucket,
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    await using env = await setup({
      kind: "s3",
      id: "ceph",
      pathStyle: true,
      prefix: "host1/",
      ...s3,
    });
    const bare = s3Remote({ id: "raw", provider: "custom", ...s3 });
    try {
      const config = env.config("1y 2s");
      await cycle(env.data, 1);
      assert.ok((await update(config, { force: true })).ok);
      await cycle(env.data, 2);
      assert.ok((await update(config, { force: true })).ok);
      const ours = async () =>
        (await Array.fromAsync(bare.listLevel("host1/"))).map((o) => o.key);
      const second = (await ours()).filter((k) => k.includes(".mdvn"))[1];
      const body = new Uint8Array(
        await new Response(await bare.get(second)).arrayBuffer(),
      );
      const name = second.slice("host1/".length);
      const foreign = [
        `host2/${name}`,
        `host1/archive/${name}`,
        `host1/.${name}.Xy12Ab`,
        `${name}`,
      ];
      for (const k of foreign) await bare.put(k, body);
      for (let n = 3; n <= 5; n++) {
        await cycle(env.data, n);
        const r = await update(config, { force: true });
        assert.ok(r.ok, r.summary);
      }
      assert.ok(!(await ours()).includes(second), "the original was deleted");
      for (const k of foreign) {
        assert.equal((await bare.head(k))?.size, body.length, k);
      }
      const listing = await listBackups(config, "ceph");
      assert.deepEqual(listing.foreign, []);
      const restored = await restore(config, {
        dest: env.dst.mountPoint,
        remote: "ceph",
      });
      assert.equal(
        restored.received.length,
        listing.sources[0].backups.length,
      );
    } finally {
      bare.close();
    }
  },
});
