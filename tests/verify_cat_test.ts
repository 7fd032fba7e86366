/**
 * verify (SHA-256 against the manifest, stream header against the key, and
 * --drill), and cat (the checked send stream, nothing else on stdout). Real
 * loop btrfs, local-directory remote.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { listBackups, update } from "../mod.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { manifestKey } from "../lib/drivers/transfer/manifest.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { snapshotAt, storeSend } from "./fixtures/backups.ts";
import { randomBytes, sha256Hex } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

async function setup() {
  const src = await createBtrfs({ sizeMiB: 384 });
  const data = `${src.mountPoint}/data`;
  const snaps = `${src.mountPoint}/snaps`;
  const remote = `${src.mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(remote);
  const config = {
    timezone: "UTC",
    remotes: [{ kind: "local" as const, id: "usb", path: remote }],
    sources: [{
      kind: "btrfs" as const,
      path: data,
      snapshots: snaps,
      upload: [{ remote: "usb", preserve: "1y 1m 1d" }],
    }],
  };
  const file = `${src.mountPoint}/policy.ts`;
  await Deno.writeTextFile(file, `export default ${JSON.stringify(config)};\n`);
  for (let cycle = 1; cycle <= 3; cycle++) {
    await Deno.writeFile(`${data}/f${cycle}.bin`, randomBytes(512 << 10));
    const r = await update(config, { force: true });
    assert.ok(r.ok, r.summary);
  }
  const backups = (await listBackups(config, "usb")).sources[0].backups;
  return {
    src,
    data,
    snaps,
    remote,
    config,
    file,
    backups,
    [Symbol.asyncDispose]: () => src.close(),
  };
}

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

async function manifestSha(remote: string, key: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(`${remote}/${manifestKey(key)}`))
    .sha256;
}

Deno.test({
  name:
    "verify checks every backup, finds a flipped byte (exit 1, the backup named) and a header that is not its key's",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const n = env.backups.length;
    assert.ok(n >= 2);
    const good = await cli(["verify", env.file, "usb"]);
    assert.equal(good.code, 0, good.all);
    assert.match(
      good.stdout,
      new RegExp(`verified ${n} backup\\(s\\) in usb: ${n} ok, 0 failed`),
    );
    assert.equal(
      good.stdout.split("\n").filter((l) =>
        /^\S+ ok {4}.*sha256 verified, header matches/.test(l)
      ).length,
      n,
    );
    const json = await cli([
      "verify",
      env.file,
      "usb",
      "--json",
      "--sample",
      "1",
    ]);
    assert.equal(json.code, 0, json.all);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.backups.length, 1);
    assert.equal(parsed.backups[0].sha256, "verified");
    const none = await cli([
      "verify",
      env.file,
      "usb",
      "--since",
      "2999-01-01",
    ]);
    assert.match(none.stdout, /verified 0 backup\(s\)/);

    // One flipped byte in the middle of one object.
    const victim = env.backups[env.backups.length - 1].key;
    const path = `${env.remote}/${victim}`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length >> 1] ^= 0x01;
    await Deno.writeFile(path, bytes);
    // A send stored under a key that names another snapshot (no manifest).
    const snap = await snapshotAt(env.data, `${env.src.mountPoint}/data.odd`);
    const odd = await storeSend(env.remote, snap, null, {
      uuid: crypto.randomUUID(),
    });
    const bad = await cli(["verify", env.file, "usb", "--json"]);
    assert.equal(bad.code, 1, bad.all);
    const checks = JSON.parse(bad.stdout).backups as {
      key: string;
      sha256: string;
      header: string;
      ok: boolean;
      note: string;
    }[];
    const flipped = checks.find((c) => c.key === victim)!;
    assert.equal(flipped.ok, false);
    assert.equal(flipped.sha256, "failed");
    assert.match(flipped.note, /sha-?256|checksum/i);
    const mislabelled = checks.find((c) => c.key === odd)!;
    assert.equal(mislabelled.ok, false);
    assert.equal(mislabelled.header, "failed");
    assert.equal(checks.filter((c) => c.ok).length, n - 1);
    const text = await cli(["verify", env.file, "usb"]);
    assert.equal(text.code, 1);
    assert.ok(text.stdout.includes(`FAIL  ${victim}: `), text.stdout);
  },
});

Deno.test({
  name:
    "cat writes the checked send stream: stdout carries only the stream, -o FILE hashes to the manifest's SHA-256, a corrupt backup leaves no file",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const b = env.backups[0];
    const want = await manifestSha(env.remote, b.key);
    const file = `${env.src.mountPoint}/out.btrfs`;
    const r = await cli([
      "cat",
      env.file,
      "usb",
      b.uuid.slice(0, 8),
      "-o",
      file,
    ]);
    assert.equal(r.code, 0, r.all);
    assert.equal(r.stdout, "", "nothing on stdout with -o");
    assert.equal(await sha256Hex(await Deno.readFile(file)), want);

    // As a separate process: stdout is exactly the stream.
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "cat", "--local", env.remote, b.uuid],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
    assert.equal(await sha256Hex(child.stdout), want);
    assert.match(new TextDecoder().decode(child.stderr), /sha256 verified/);

    const path = `${env.remote}/${b.key}`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 10] ^= 0x01;
    await Deno.writeFile(path, bytes);
    const broken = `${env.src.mountPoint}/broken.btrfs`;
    const bad = await cli(["cat", env.file, "usb", b.uuid, "-o", broken]);
    assert.equal(bad.code, 1, bad.all);
    assert.match(bad.stderr, /sha-?256|checksum/i);
    await assert.rejects(Deno.stat(broken), Deno.errors.NotFound);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(env.src.mountPoint))).filter((e) =>
        e.name.includes("partial")
      ),
      [],
    );
    const unknown = await cli(["cat", env.file, "usb", "deadbeef"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no backup of snapshot deadbeef/);
  },
});

Deno.test({
  name:
    "verify --drill receives the newest chain into scratch space, finds it identical to the local snapshot, and cleans up",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const scratch = `${env.src.mountPoint}/scratch`;
    await Deno.mkdir(scratch);
    const r = await cli(["verify", env.file, "usb", "--drill", scratch]);
    assert.equal(r.code, 0, r.all);
    const newest = env.backups[env.backups.length - 1];
    assert.match(
      r.stdout,
      new RegExp(
        `drill: .*\\.${newest.ctransid}: identical to ${env.snaps}/.*\\.${newest.ctransid} \\(\\d+ entries, SHA-256 of every file\\)`,
      ),
    );
    assert.match(
      r.stdout,
      /drill: restored \d+ snapshot\(s\) in \d+\.\d s; newest data \d+ s old; ok/,
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(scratch)), []);

    // A local snapshot that changed since its backup is found out.
    await run([
      "btrfs",
      "property",
      "set",
      newestPath(env.snaps, newest.ctransid),
      "ro",
      "false",
    ]);
    await Deno.writeTextFile(
      `${newestPath(env.snaps, newest.ctransid)}/f1.bin`,
      "changed",
    );
    const diff = await cli(["verify", env.file, "usb", "--drill", scratch]);
    assert.equal(diff.code, 1, diff.all);
    assert.match(diff.stdout, /DIFFERS from .*: f1\.bin differs/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(scratch)), []);
  },
});

function newestPath(snaps: string, ctransid: number): string {
  for (const e of Deno.readDirSync(snaps)) {
    if (e.name.endsWith(`.${ctransid}`)) return `${snaps}/${e.name}`;
  }
  throw new Error(`no snapshot .${ctransid}`);
}

Deno.test({
  name: "verify stamps its lines in the config's zone",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const file = `${env.src.mountPoint}/kolkata.ts`;
    await Deno.writeTextFile(
      file,
      `export default ${
        JSON.stringify({ ...env.config, timezone: "Asia/Kolkata" })
      };\n`,
    );
    const r = await cli(["verify", file, "usb"]);
    assert.equal(r.code, 0, r.all);
    const lines = r.stdout.split("\n");
    assert.equal(lines.length, env.backups.length + 1, r.stdout);
    for (const line of lines) {
      assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+\+05:30 /, line);
    }
  },
});

Deno.test({
  name:
    "verify fails a backup whose send parent is missing from the remote: it cannot be restored",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const n = env.backups.length;
    const victim = env.backups.find((b) =>
      b.parent !== null &&
      env.backups.some((c) => c.parent === b.uuid)
    ) ?? env.backups.find((b) => b.parent === null)!;
    const orphans = env.backups.filter((b) => b.parent === victim.uuid);
    assert.ok(orphans.length >= 1, "a backup sent against the victim");
    await Deno.remove(`${env.remote}/${victim.key}`);
    await Deno.remove(`${env.remote}/${manifestKey(victim.key)}`);
    const r = await cli(["verify", env.file, "usb", "--json"]);
    assert.equal(r.code, 1, r.all);
    const result = JSON.parse(r.stdout);
    assert.equal(result.ok, false);
    assert.equal(result.backups.length, n - 1);
    for (const o of orphans) {
      const c = result.backups.find((x: { uuid: string }) => x.uuid === o.uuid);
      assert.equal(c.ok, false);
      assert.equal(c.sha256, "verified", "the object itself is intact");
      assert.match(c.note, new RegExp(`cannot be restored.*${victim.uuid}`));
    }
    const text = await cli(["verify", env.file, "usb"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /1 failed|[2-9] failed/);
    assert.ok(text.stdout.includes(`FAIL  ${orphans[0].key}: `), text.stdout);
  },
});
