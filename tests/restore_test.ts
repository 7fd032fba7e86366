/**
 * restore's checks: a corrupted backup is refused, a btrfs2s3-written backup
 * (no manifest, piped through a command with no key suffix) restores with
 * --pipe-through. Real btrfs, local-directory remote.
 */
import assert from "node:assert/strict";
import { restore, update } from "../mod.ts";
import type { ConfigInput } from "../mod.ts";
import { encodeKey } from "../lib/core/keys.ts";
import { getSubvolumeInfo } from "../lib/drivers/btrfs/driver.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

async function setup() {
  const src = await createBtrfs({ sizeMiB: 512 });
  const dst = await createBtrfs({ sizeMiB: 512 });
  const data = `${src.mountPoint}/data`;
  const remote = `${src.mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(remote);
  await Deno.writeFile(`${data}/a.bin`, randomBytes(3 << 20));
  const config: ConfigInput = {
    timezone: "UTC",
    remotes: [{ kind: "local", id: "usb", path: remote }],
    sources: [{
      kind: "btrfs",
      path: data,
      snapshots: `${src.mountPoint}/snaps`,
      upload: [{ remote: "usb", preserve: "1y" }],
    }],
  };
  return {
    src,
    dst,
    data,
    remote,
    config,
    [Symbol.asyncDispose]: async () => {
      await src.close();
      await dst.close();
    },
  };
}

Deno.test({
  name:
    "restore of a corrupted backup fails loudly and leaves no finished snapshot",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    assert.ok((await update(env.config, { force: true })).ok);
    const key = (await Array.fromAsync(Deno.readDir(env.remote))).find((e) =>
      e.name.includes(".mdvn1")
    )!.name;
    const path = `${env.remote}/${key}`;
    const bytes = await Deno.readFile(path);
    // Flip one byte inside a file's data. btrfs receive's own per-command crc32
    // or our SHA-256 check at the end of the stream (tests/transfer_test.ts
    // shows that one alone) must stop it, whichever sees it first.
    bytes[bytes.length - 100_000] ^= 0xff;
    await Deno.writeFile(path, bytes);
    await assert.rejects(
      restore(env.config, { dest: env.dst.mountPoint, remote: "usb" }),
      /sha-?256|checksum|integrity|crc32 mismatch/i,
    );
    // The refused stream never became a finished read-only subvolume.
    for await (const e of Deno.readDir(env.dst.mountPoint)) {
      const info = await getSubvolumeInfo(`${env.dst.mountPoint}/${e.name}`)
        .catch(() =>
          null
        );
      assert.ok(!info?.readOnly, `${e.name} was received despite the mismatch`);
      await run([
        "btrfs",
        "subvolume",
        "delete",
        `${env.dst.mountPoint}/${e.name}`,
      ], { check: false });
    }
  },
});

Deno.test({
  name:
    "restore reads a btrfs2s3-written backup (no manifest, pipe_through zstd) with --pipe-through",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using env = await setup();
    const snap = `${env.src.mountPoint}/snaps/data.manual`;
    await Deno.mkdir(`${env.src.mountPoint}/snaps`);
    await run(["btrfs", "subvolume", "snapshot", "-r", env.data, snap]);
    const info = await getSubvolumeInfo(snap);
    const source = await getSubvolumeInfo(env.data);
    // What btrfs2s3 writes: the metadata key with no suffix for its pipe_through.
    const key = encodeKey({
      name: "data",
      ctime: info.ctime,
      ctransid: info.ctransid,
      uuid: info.uuid,
      sendParentUuid: null,
      sourceUuid: source.uuid,
      seqn: 0,
      suffixes: [],
    }, "UTC");
    await run([
      "bash",
      "-c",
      `btrfs send -q "$1" | zstd -q -c > "$2"`,
      "_",
      snap,
      `${env.remote}/${key}`,
    ]);
    const r = await restore(env.config, {
      dest: env.dst.mountPoint,
      remote: "usb",
      pipeThrough: [["zstd", "-d", "-c"]],
    });
    assert.equal(r.received.length, 1);
    assert.equal(r.unverified, 1, "no manifest: reported as not verified");
    assert.equal(r.received[0].receivedUuid, info.uuid);
    assert.deepEqual(
      await Deno.readFile(`${r.received[0].path}/a.bin`),
      await Deno.readFile(`${snap}/a.bin`),
    );
  },
});
