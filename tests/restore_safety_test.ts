/**
 * Safe receive: btrfs receive runs confined to the destination (--chroot),
 * every stream's first command is checked against its key before btrfs
 * receive sees a byte, and a bad destination is refused before anything is
 * listed or received. Real loop btrfs, local-directory remote.
 */
import assert from "node:assert/strict";
import { restore, RestoreError } from "../mod.ts";
import type { ConfigInput } from "../mod.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { encodeKey } from "../lib/core/keys.ts";
import type { SubvolumeInfo } from "../lib/core/types.ts";
import {
  BtrfsError,
  getSubvolumeInfo,
  receive,
} from "../lib/drivers/btrfs/driver.ts";
import { sendStreamHeadMismatch } from "../lib/drivers/btrfs/send_stream.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import {
  snapshotAt,
  type StoreOptions,
  storeSend as store,
} from "./fixtures/backups.ts";
import {
  Attr,
  Cmd,
  command,
  sendStream,
  uuidBytes,
} from "./fixtures/send_stream.ts";

async function setup() {
  const src = await createBtrfs({ sizeMiB: 256 });
  const dst = await createBtrfs({ sizeMiB: 256 });
  const data = `${src.mountPoint}/data`;
  const snaps = `${src.mountPoint}/snaps`;
  const remote = `${src.mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(remote);
  await Deno.mkdir(snaps);
  const config: ConfigInput = {
    timezone: "UTC",
    remotes: [{ kind: "local", id: "usb", path: remote }],
    sources: [{
      kind: "btrfs",
      path: data,
      snapshots: snaps,
      upload: [{ remote: "usb", preserve: "1y" }],
    }],
  };
  return {
    src,
    dst,
    data,
    snaps,
    remote,
    config,
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dst.close();
    },
  };
}

type Env = Awaited<ReturnType<typeof setup>>;

/** A read-only snapshot of the source named `name`. */
function snapshot(env: Env, name: string): Promise<SubvolumeInfo> {
  return snapshotAt(env.data, `${env.snaps}/${name}`);
}

/** Stores a send in the remote as btrfs2s3 would, labelled `as` (default: the truth). */
function storeSend(
  env: Env,
  snap: SubvolumeInfo,
  parent: SubvolumeInfo | null,
  as: StoreOptions = {},
): Promise<string> {
  return store(env.remote, snap, parent, as);
}

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test({
  name:
    "a crafted stream writing through a symlink to outside the destination changes nothing outside it",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    // Two identical targets outside the destination: one shows the stream is a real attack.
    const proof = `${env.src.mountPoint}/outside-proof`;
    const outside = `${env.src.mountPoint}/outside`;
    for (const dir of [proof, outside]) {
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/victim`, "original\n");
    }
    const uuid = crypto.randomUUID();
    const ctransid = 7;
    const craft = (target: string) =>
      sendStream([
        command(Cmd.SUBVOL, [
          [Attr.PATH, "data.evil"],
          [Attr.UUID, uuidBytes(uuid)],
          [Attr.CTRANSID, BigInt(ctransid)],
        ]),
        command(Cmd.SYMLINK, [
          [Attr.PATH, "esc"],
          [Attr.INO, 257n],
          [Attr.PATH_LINK, target],
        ]),
        command(Cmd.WRITE, [
          [Attr.PATH, "esc/victim"],
          [Attr.FILE_OFFSET, 0n],
          [Attr.DATA, "OVERWRITTEN\n"],
        ]),
      ]);
    // Unconfined, btrfs receive follows the symlink out of its directory.
    const scratch = `${env.src.mountPoint}/scratch`;
    await Deno.mkdir(scratch);
    await Deno.writeFile(`${env.src.mountPoint}/proof.bs`, craft(proof));
    await run([
      "bash",
      "-c",
      `btrfs receive "$1" < "$2"`,
      "_",
      scratch,
      `${env.src.mountPoint}/proof.bs`,
    ]);
    assert.equal(
      await Deno.readTextFile(`${proof}/victim`),
      "OVERWRITTEN\n",
      "the crafted stream must be a working attack without --chroot",
    );

    // The same stream under a valid key whose header matches, without a manifest.
    const key = encodeKey({
      name: "data",
      ctime: Temporal.Now.instant().round("second"),
      ctransid,
      uuid,
      sendParentUuid: null,
      sourceUuid: (await getSubvolumeInfo(env.data)).uuid,
      seqn: 0,
      suffixes: [],
    }, "UTC");
    await Deno.writeFile(`${env.remote}/${key}`, craft(outside));
    const before = await treeSums(env.src.mountPoint + "/outside");
    const out = memoryOutput();
    const r = await restore(env.config, {
      dest: env.dst.mountPoint,
      remote: "usb",
      output: out,
    }).then(() => null, (e: unknown) => e);
    // Confined to the destination, the symlink leads nowhere: btrfs receive fails.
    assert.ok(r instanceof Error, "the crafted backup must not restore");
    assert.match(r.message, /btrfs receive/);
    assert.equal(await Deno.readTextFile(`${outside}/victim`), "original\n");
    assert.deepEqual(await treeSums(outside), before);
    assert.deepEqual(await entries(outside), ["victim"]);
  },
});

Deno.test({
  name:
    "a stream of another snapshot than its key names is refused before btrfs receive runs",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    await Deno.writeFile(`${env.data}/a.bin`, randomBytes(1 << 20));
    const s1 = await snapshot(env, "data.s1");
    const other = crypto.randomUUID();
    const key = await storeSend(env, s1, null, { uuid: other });
    const out = memoryOutput();
    await assert.rejects(
      restore(env.config, {
        dest: env.dst.mountPoint,
        remote: "usb",
        output: out,
      }),
      (e: unknown) =>
        e instanceof RestoreError && e.cause instanceof BtrfsError &&
        e.cause.code === "stream-mismatch" && e.message.includes(key) &&
        e.message.includes(
          `it is a send of snapshot ${s1.uuid}, not of ${other}`,
        ),
    );
    assert.deepEqual(await entries(env.dst.mountPoint), []);
  },
});

Deno.test({
  name:
    "a differential stream against another parent than its key's .sndp is refused, its chain's other backups restore",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    await Deno.writeFile(`${env.data}/a.bin`, randomBytes(1 << 20));
    const s0 = await snapshot(env, "data.s0");
    await Deno.writeFile(`${env.data}/b.bin`, randomBytes(1 << 20));
    const s1 = await snapshot(env, "data.s1");
    await Deno.writeFile(`${env.data}/c.bin`, randomBytes(1 << 20));
    const s2 = await snapshot(env, "data.s2");
    await storeSend(env, s0, null);
    await storeSend(env, s1, null);
    // Really sent against s0 (which is restored, so btrfs receive would take it), labelled against s1.
    const key = await storeSend(env, s2, s0, { sendParentUuid: s1.uuid });
    await assert.rejects(
      restore(env.config, { dest: env.dst.mountPoint, remote: "usb" }),
      (e: unknown) =>
        e instanceof RestoreError && e.cause instanceof BtrfsError &&
        e.cause.code === "stream-mismatch" && e.message.includes(key) &&
        e.message.includes(
          `differential stream against ${s0.uuid}, not against ${s1.uuid}`,
        ),
    );
    assert.deepEqual(await entries(env.dst.mountPoint), [
      "data.s0",
      "data.s1",
    ]);
  },
});

Deno.test({
  name:
    "btrfs2s3-style backups without a manifest restore when their headers match, reported as not checksum-verified",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    await Deno.writeFile(`${env.data}/a.bin`, randomBytes(1 << 20));
    const s1 = await snapshot(env, "data.s1");
    await Deno.writeFile(`${env.data}/b.bin`, randomBytes(1 << 20));
    const s2 = await snapshot(env, "data.s2");
    await storeSend(env, s1, null);
    await storeSend(env, s2, s1);
    const out = memoryOutput();
    const r = await restore(env.config, {
      dest: env.dst.mountPoint,
      remote: "usb",
      output: out,
    });
    assert.deepEqual(
      r.received.map((i) => i.receivedUuid),
      [s1.uuid, s2.uuid],
    );
    assert.equal(r.unverified, 2);
    assert.equal(
      out.lines.filter((l) =>
        /not checksum-verified: .*no snap2s3 manifest/.test(l)
      )
        .length,
      2,
    );
    assert.deepEqual(
      await treeSums(`${env.dst.mountPoint}/data.s2`),
      await treeSums(s2.path),
    );
  },
});

Deno.test({
  name:
    "a destination that is missing, not on btrfs or read-only is refused before anything is received",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    await Deno.writeFile(`${env.data}/a.bin`, randomBytes(1 << 20));
    await storeSend(env, await snapshot(env, "data.s1"), null);
    const tmpfs = `${env.src.mountPoint}/tmpfs`;
    await Deno.mkdir(tmpfs);
    await run(["mount", "-t", "tmpfs", "none", tmpfs]);
    const frozen = `${env.dst.mountPoint}/frozen`;
    await run(["btrfs", "subvolume", "create", `${env.dst.mountPoint}/w`]);
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      `${env.dst.mountPoint}/w`,
      frozen,
    ]);
    try {
      const cases: [string, string, RegExp][] = [
        [`${env.dst.mountPoint}/nope`, "not-found", /does not exist/],
        [tmpfs, "not-btrfs", /not on a btrfs filesystem/],
        [frozen, "read-only", /is not writable/],
      ];
      for (const [dest, code, message] of cases) {
        const out = memoryOutput();
        await assert.rejects(
          restore(env.config, { dest, remote: "usb", output: out }),
          (e: unknown) =>
            e instanceof BtrfsError && e.code === code &&
            message.test(e.message) && !e.message.includes("\n"),
        );
        assert.deepEqual(out.lines, [], `${dest}: nothing said or received`);
      }
      assert.deepEqual(await entries(tmpfs), []);
      assert.deepEqual(await entries(frozen), []);
    } finally {
      await run(["umount", tmpfs], { check: false });
    }
  },
});

Deno.test("the first command's CRC32C is checked: one flipped bit is refused", () => {
  const uuid = crypto.randomUUID();
  const stream = sendStream([
    command(Cmd.SUBVOL, [
      [Attr.PATH, "x"],
      [Attr.UUID, uuidBytes(uuid)],
      [Attr.CTRANSID, 9n],
    ]),
  ]);
  const expect = { uuid, ctransid: 9, parentUuid: null };
  assert.equal(sendStreamHeadMismatch(stream, expect), null);
  assert.match(
    sendStreamHeadMismatch(stream, { ...expect, ctransid: 10 })!,
    /ctransid 9, not 10/,
  );
  stream[31] ^= 1; // the name "x"
  assert.match(sendStreamHeadMismatch(stream, expect)!, /CRC32C/);
});

Deno.test("a subvolume name that is not one directory entry is refused", () => {
  const uuid = crypto.randomUUID();
  for (const name of ["..", "a/b", "../x"]) {
    const stream = sendStream([
      command(Cmd.SUBVOL, [
        [Attr.PATH, name],
        [Attr.UUID, uuidBytes(uuid)],
        [Attr.CTRANSID, 9n],
      ]),
    ]);
    assert.match(
      sendStreamHeadMismatch(stream, { uuid, ctransid: 9, parentUuid: null })!,
      /not a plain directory name/,
    );
  }
});

Deno.test({
  name: "receive refuses a mismatched stream without starting btrfs receive",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const uuid = crypto.randomUUID();
    const stream = sendStream([
      command(Cmd.SUBVOL, [
        [Attr.PATH, "x"],
        [Attr.UUID, uuidBytes(uuid)],
        [Attr.CTRANSID, 9n],
      ]),
    ]);
    let cancelled: unknown = null;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(stream);
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    await assert.rejects(
      receive(body, env.dst.mountPoint, {
        expect: { uuid: crypto.randomUUID(), ctransid: 9, parentUuid: null },
      }),
      /refused .*send of snapshot/,
    );
    assert.ok(cancelled !== null, "the source stream is cancelled");
    assert.deepEqual(await entries(env.dst.mountPoint), []);
  },
});
