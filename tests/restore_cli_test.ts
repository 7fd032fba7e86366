/**
 * restore from the command line, as on the day the machine is gone: the
 * source recreated or absent, `latest`, uuid prefixes, same-named sources,
 * broken chains, and no config at all (`--local`, `--s3` against Ceph RGW)
 * with `--identity` for age. Real loop btrfs.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { main } from "../cli.ts";
import { listBackups, update } from "../mod.ts";
import type { ConfigInput, PipeStage } from "../mod.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/driver.ts";
import type { SubvolumeInfo } from "../lib/core/types.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { snapshotAt, storeSend } from "./fixtures/backups.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

async function setup() {
  const src = await createBtrfs({ sizeMiB: 384 });
  const dst = await createBtrfs({ sizeMiB: 384 });
  const data = `${src.mountPoint}/data`;
  const snaps = `${src.mountPoint}/snaps`;
  const remote = `${src.mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(remote);
  await Deno.mkdir(snaps);
  const config = (pipe: PipeStage[] = [], preserve = "1y 1m 1d") => ({
    timezone: "UTC",
    remotes: [{ kind: "local" as const, id: "usb", path: remote }],
    sources: [{
      kind: "btrfs" as const,
      path: data,
      snapshots: snaps,
      upload: [{ remote: "usb", preserve, pipe }],
    }],
  });
  let n = 0;
  return {
    src,
    dst,
    data,
    snaps,
    remote,
    config,
    /** Writes the config to a file the CLI reads. */
    async file(c: ConfigInput): Promise<string> {
      const path = `${src.mountPoint}/policy${n++}.ts`;
      await Deno.writeTextFile(
        path,
        `export default ${JSON.stringify(c, null, 2)};\n`,
      );
      return path;
    },
    /** A fresh directory on the destination btrfs. */
    async dest(): Promise<string> {
      const path = `${dst.mountPoint}/d${n++}`;
      await Deno.mkdir(path);
      return path;
    },
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dst.close();
    },
  };
}

type Env = Awaited<ReturnType<typeof setup>>;

async function cli(args: string[]) {
  const out = memoryOutput();
  const code = await main(args, out);
  return {
    code,
    stdout: out.stdout.join("\n"),
    stderr: out.stderr.join("\n"),
    all: out.lines.join("\n"),
  };
}

/** Subvolumes in `dir` with their received uuids. */
async function received(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    const info = await getSubvolumeInfo(`${dir}/${e.name}`).catch(() => null);
    if (info?.receivedUuid) out.set(info.receivedUuid, info.path);
  }
  return out;
}

async function deleteSubvolumes(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    await run(["btrfs", "subvolume", "delete", `${dir}/${e.name}`], {
      check: false,
    });
  }
}

/** Three update cycles that change the data: a full backup and a differential on top. */
async function backUp(env: Env, config: ConfigInput): Promise<void> {
  for (let cycle = 1; cycle <= 3; cycle++) {
    await Deno.writeFile(`${env.data}/f${cycle}.bin`, randomBytes(256 << 10));
    await Deno.writeTextFile(`${env.data}/log.txt`, `cycle ${cycle}\n`, {
      append: true,
    });
    const r = await update(config, { force: true });
    assert.ok(r.ok, r.summary);
  }
}

/** The received subvolume with the highest ctransid equals `want`, file for file. */
async function assertNewestIs(
  dir: string,
  want: Record<string, string>,
): Promise<void> {
  let newest: SubvolumeInfo | null = null;
  for (const path of (await received(dir)).values()) {
    const info = await getSubvolumeInfo(path);
    if (!newest || info.ctransid > newest.ctransid) newest = info;
  }
  assert.ok(newest, `nothing received in ${dir}`);
  assert.deepEqual(await treeSums(newest.path), want);
}

Deno.test({
  name:
    "with the source recreated (new uuid) or absent, restore brings back every backup and the newest equals the last backed-up state",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const config = env.config();
    const file = await env.file(config);
    await backUp(env, config);
    const last = await treeSums(env.data);
    const backups = (await listBackups(config, "usb")).sources[0].backups;
    assert.ok(backups.length >= 2, "a full backup and a differential");
    // The machine is rebuilt: an empty source at the same path, no snapshots.
    await deleteSubvolumes(env.snaps);
    await run(["btrfs", "subvolume", "delete", env.data]);
    await run(["btrfs", "subvolume", "create", env.data]);
    const fresh = (await getSubvolumeInfo(env.data)).uuid;

    const d1 = await env.dest();
    const r1 = await cli(["restore", file, d1, "usb"]);
    assert.equal(r1.code, 0, r1.all);
    assert.match(
      r1.stdout,
      new RegExp(
        `source data: \\S+ \\(the only source named data in remote usb \\(${env.data} has a new uuid, ${fresh}\\)\\)`,
      ),
    );
    assert.match(
      r1.stdout,
      new RegExp(`restored ${backups.length} snapshot\\(s\\), 0 already there`),
    );
    assert.deepEqual(
      [...(await received(d1)).keys()].sort(),
      backups.map((b) => b.uuid).sort(),
    );
    await assertNewestIs(d1, last);

    // The source gone altogether.
    await run(["btrfs", "subvolume", "delete", env.data]);
    const d2 = await env.dest();
    const r2 = await cli(["restore", file, d2, "usb"]);
    assert.equal(r2.code, 0, r2.all);
    assert.match(r2.stdout, /\(.*\/data does not exist\)/);
    assert.equal((await received(d2)).size, backups.length);
    await assertNewestIs(d2, last);
    // Again into the same place: everything is there already.
    const r3 = await cli(["restore", file, d2, "usb"]);
    assert.equal(r3.code, 0, r3.all);
    assert.match(
      r3.stdout,
      new RegExp(`restored 0 snapshot\\(s\\), ${backups.length} already there`),
    );
  },
});

/** s1 <- s2 <- s3 and s4 <- s5, stored as btrfs2s3 would. */
async function twoChains(env: Env) {
  const s: SubvolumeInfo[] = [];
  for (let i = 1; i <= 5; i++) {
    await Deno.writeTextFile(`${env.data}/n.txt`, `state ${i}\n`);
    s.push(await snapshotAt(env.data, `${env.snaps}/data.s${i}`));
  }
  const keys = [
    await storeSend(env.remote, s[0], null),
    await storeSend(env.remote, s[1], s[0]),
    await storeSend(env.remote, s[2], s[1]),
    await storeSend(env.remote, s[3], null),
    await storeSend(env.remote, s[4], s[3]),
  ];
  return { s, keys };
}

Deno.test({
  name:
    "latest restores only the newest chain; an 8-digit prefix restores that snapshot's chain; an unknown uuid exits 1 saying what the remote holds",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const file = await env.file(env.config());
    const { s } = await twoChains(env);

    const d1 = await env.dest();
    const latest = await cli(["restore", file, d1, "usb", "latest"]);
    assert.equal(latest.code, 0, latest.all);
    assert.deepEqual(
      [...(await received(d1)).keys()].sort(),
      [
        s[3].uuid,
        s[4].uuid,
      ].sort(),
    );
    assert.match(latest.stdout, /2 not checksum-verified \(no manifest\)/);

    const d2 = await env.dest();
    const prefix = await cli([
      "restore",
      file,
      d2,
      "usb",
      s[2].uuid.slice(0, 8),
    ]);
    assert.equal(prefix.code, 0, prefix.all);
    assert.deepEqual(
      [...(await received(d2)).keys()].sort(),
      [s[0].uuid, s[1].uuid, s[2].uuid].sort(),
    );
    assert.deepEqual(
      await treeSums((await received(d2)).get(s[2].uuid)!),
      await treeSums(s[2].path),
    );

    const d3 = await env.dest();
    const unknown = await cli(["restore", file, d3, "usb", "deadbeef"]);
    assert.equal(unknown.code, 1, unknown.all);
    assert.match(
      unknown.stderr,
      new RegExp(
        `no snapshot or source with uuid deadbeef in remote usb; remote usb holds: data from source ${
          s[0].parentUuid
        } \\(5 backup\\(s\\), newest `,
      ),
    );
    const short = await cli(["restore", file, d3, "usb", "deadbee"]);
    assert.equal(short.code, 2, short.all);
    assert.match(short.stderr, /at least 8 hex digits/);
    assert.deepEqual(await received(d3), new Map());
  },
});

Deno.test({
  name:
    "a chain with a missing middle backup: the other chains restore, the broken one is named, exit 1",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const file = await env.file(env.config());
    const { s, keys } = await twoChains(env);
    await Deno.remove(`${env.remote}/${keys[1]}`);
    const d = await env.dest();
    const r = await cli(["restore", file, d, "usb"]);
    assert.equal(r.code, 1, r.all);
    assert.deepEqual(
      [...(await received(d)).keys()].sort(),
      [s[0].uuid, s[3].uuid, s[4].uuid].sort(),
    );
    assert.match(
      r.stderr,
      new RegExp(
        `broken chain: data \\(source ${
          s[0].parentUuid
        }\\): 1 backup\\(s\\) cannot be restored, the backup of snapshot ${
          s[1].uuid
        } is missing from the remote: .*\\(uuid ${s[2].uuid}\\)`,
      ),
    );
    assert.match(r.stderr, /restored 3 snapshot\(s\).*; 1 broken chain\(s\)/);
  },
});

Deno.test({
  name:
    "two same-named sources in one remote are refused, both listed, and chosen with --source or a uuid",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const file = await env.file(env.config());
    await Deno.writeTextFile(`${env.data}/mine.txt`, "mine\n");
    const mine = await snapshotAt(env.data, `${env.snaps}/data.mine`);
    await storeSend(env.remote, mine, null);
    // Another machine's /src/x/data, backed up to the same remote under the same name.
    await Deno.mkdir(`${env.src.mountPoint}/x`);
    const other = `${env.src.mountPoint}/x/data`;
    await run(["btrfs", "subvolume", "create", other]);
    await Deno.writeTextFile(`${other}/secret.txt`, "not yours\n");
    const theirs = await snapshotAt(other, `${env.snaps}/data.theirs`);
    await storeSend(env.remote, theirs, null);
    // This machine is gone.
    await run(["btrfs", "subvolume", "delete", mine.path]);
    await run(["btrfs", "subvolume", "delete", env.data]);

    const d = await env.dest();
    const refused = await cli(["restore", file, d, "usb"]);
    assert.equal(refused.code, 2, refused.all);
    for (const u of [mine.parentUuid!, theirs.parentUuid!]) {
      assert.match(
        refused.stderr,
        new RegExp(`${u} \\(1 backup\\(s\\), newest \\d{4}-`),
      );
    }
    assert.match(refused.stderr, /--source <source uuid>/);
    assert.deepEqual(await received(d), new Map(), "nothing received");

    const bySource = await cli([
      "restore",
      file,
      d,
      "usb",
      "--source",
      mine.parentUuid!.slice(0, 8),
    ]);
    assert.equal(bySource.code, 0, bySource.all);
    assert.deepEqual([...(await received(d)).keys()], [mine.uuid]);
    const restored = (await received(d)).get(mine.uuid)!;
    assert.deepEqual(await treeSums(restored), {
      "mine.txt": await sum("mine\n"),
    });

    const d2 = await env.dest();
    const byUuid = await cli(["restore", file, d2, "usb", theirs.uuid]);
    assert.equal(byUuid.code, 0, byUuid.all);
    assert.deepEqual([...(await received(d2)).keys()], [theirs.uuid]);
  },
});

async function sum(text: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function ageKey(
  dir: string,
): Promise<{ key: string; recipient: string }> {
  const key = `${dir}/age.key`;
  await run(["age-keygen", "-o", key]);
  const recipient = (await run(["age-keygen", "-y", key])).stdout.trim();
  return { key, recipient };
}

/** Every snapshot in `snaps` was received into `dir`, file for file. */
async function assertAllIdentical(snaps: string, dir: string): Promise<number> {
  const got = await received(dir);
  let n = 0;
  for await (const e of Deno.readDir(snaps)) {
    const info = await getSubvolumeInfo(`${snaps}/${e.name}`);
    const path = got.get(info.uuid);
    assert.ok(path, `${e.name} restored`);
    assert.equal(basename(path), e.name);
    assert.deepEqual(await treeSums(path), await treeSums(info.path));
    n++;
  }
  return n;
}

Deno.test({
  name:
    "without a config: a zstd + age backup restores byte for byte from --local with --identity; without it, exit 2 and nothing received",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const { key, recipient } = await ageKey(env.src.mountPoint);
    const config = env.config([{ kind: "zstd" }, {
      kind: "age",
      recipients: [recipient],
    }]);
    await backUp(env, config);
    const d = await env.dest();
    const noKey = await cli(["restore", "--local", env.remote, d]);
    assert.equal(noKey.code, 2, noKey.all);
    assert.match(noKey.stderr, /without an identity.*--identity FILE/);
    assert.deepEqual(await received(d), new Map());

    const r = await cli([
      "restore",
      "--local",
      env.remote,
      d,
      "--identity",
      key,
    ]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /sha256 verified/);
    assert.ok(await assertAllIdentical(env.snaps, d) >= 2);

    const listed = await cli([
      "list-backups",
      "--local",
      env.remote,
      "--timezone",
      "Europe/Berlin",
    ]);
    assert.equal(listed.code, 0, listed.all);
    assert.match(listed.stdout, /^data \(source /m);
    assert.match(listed.stdout, /\+0[12]:00 {2}full/);
  },
});

Deno.test({
  name:
    "--pipe-through takes one command per flag with shell quoting (a btrfs2s3 pipe_through backup)",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const file = await env.file(env.config());
    await Deno.writeFile(`${env.data}/a.bin`, randomBytes(1 << 20));
    const snap = await snapshotAt(env.data, `${env.snaps}/data.z`);
    const key = await storeSend(env.remote, snap, null);
    await run([
      "bash",
      "-c",
      `zstd -q --rm "$1" -o "$1.tmp" && mv "$1.tmp" "$1"`,
      "_",
      `${env.remote}/${key}`,
    ]);
    const d = await env.dest();
    // Split on spaces, the quoted argument would break apart and sh would fail.
    const r = await cli([
      "restore",
      file,
      d,
      "usb",
      "--pipe-through",
      `sh -c 'zstd -q -d -c | cat'`,
    ]);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual(
      await treeSums((await received(d)).get(snap.uuid)!),
      await treeSums(snap.path),
    );
    const bad = await cli([
      "restore",
      file,
      d,
      "usb",
      "--pipe-through",
      `sh -c 'zstd`,
    ]);
    assert.equal(bad.code, 2, bad.all);
    assert.match(bad.stderr, /--pipe-through: .*unterminated '/);
  },
});

Deno.test({
  name:
    "without a config: a zstd + age backup restores byte for byte from --s3 (Ceph RGW) with --identity",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using server = await startS3Server();
    await using env = await setup();
    const bucket = await server.createBucket();
    const { key, recipient } = await ageKey(env.src.mountPoint);
    const config: ConfigInput = {
      timezone: "UTC",
      remotes: [{
        kind: "s3",
        id: "ceph",
        bucket,
        prefix: "laptop/",
        endpoint: server.endpoint,
        region: server.region,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
      }],
      sources: [{
        kind: "btrfs",
        path: env.data,
        snapshots: env.snaps,
        upload: [{
          remote: "ceph",
          preserve: "1y 1m 1d",
          pipe: [{ kind: "zstd" }, { kind: "age", recipients: [recipient] }],
        }],
      }],
    };
    await backUp(env, config);
    // Credentials from the usual chain: the environment.
    const saved = {
      id: Deno.env.get("AWS_ACCESS_KEY_ID"),
      secret: Deno.env.get("AWS_SECRET_ACCESS_KEY"),
    };
    Deno.env.set("AWS_ACCESS_KEY_ID", server.accessKeyId);
    Deno.env.set("AWS_SECRET_ACCESS_KEY", server.secretAccessKey);
    try {
      const flags = [
        "--s3",
        `${bucket}/laptop`,
        "--endpoint",
        server.endpoint,
        "--region",
        server.region,
      ];
      const d = await env.dest();
      const r = await cli(["restore", ...flags, d, "--identity", key]);
      assert.equal(r.code, 0, r.all);
      assert.match(r.stdout, /sha256 verified/);
      assert.ok(await assertAllIdentical(env.snaps, d) >= 2);
      const listed = await cli(["list-backups", ...flags, "--json"]);
      assert.equal(listed.code, 0, listed.all);
      assert.equal(JSON.parse(listed.stdout).sources[0].name, "data");
      const elsewhere = await cli([
        "restore",
        "--s3",
        `${bucket}/desktop`,
        "--endpoint",
        server.endpoint,
        "--region",
        server.region,
        await env.dest(),
        "--identity",
        key,
      ]);
      assert.equal(elsewhere.code, 1, elsewhere.all);
      assert.match(
        elsewhere.stderr,
        new RegExp(
          `nothing to restore; remote s3://${bucket}/desktop holds no backups`,
        ),
      );
    } finally {
      for (
        const [name, v] of [["AWS_ACCESS_KEY_ID", saved.id], [
          "AWS_SECRET_ACCESS_KEY",
          saved.secret,
        ]] as const
      ) {
        if (v === undefined) Deno.env.delete(name);
        else Deno.env.set(name, v);
      }
    }
  },
});
