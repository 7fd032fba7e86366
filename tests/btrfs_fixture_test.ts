import assert from "node:assert/strict";
import { createBtrfs, isMounted, withBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

Deno.test({
  name: "a file written on a loop-mounted btrfs survives a snapshot",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await withBtrfs(async (fs) => {
      const src = `${fs.mountPoint}/src`;
      await run(["btrfs", "subvolume", "create", src]);
      const data = crypto.getRandomValues(new Uint8Array(65536));
      await Deno.writeFile(`${src}/file.bin`, data);
      await run([
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        src,
        `${fs.mountPoint}/snap`,
      ]);
      await Deno.writeFile(`${src}/file.bin`, new Uint8Array(10));
      assert.deepEqual(
        await Deno.readFile(`${fs.mountPoint}/snap/file.bin`),
        data,
      );
    });
  },
});

Deno.test({
  name: "two btrfs fixtures mount at once and both are gone after cleanup",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using a = await createBtrfs({ sizeMiB: 256 });
    const b = await createBtrfs({ sizeMiB: 256 });
    try {
      assert.notEqual(a.mountPoint, b.mountPoint);
      assert.ok(await isMounted(a.mountPoint));
      assert.ok(await isMounted(b.mountPoint));
    } finally {
      await b.close();
    }
    assert.ok(!(await isMounted(b.mountPoint)));
    await assert.rejects(Deno.stat(b.image));
  },
});

Deno.test({
  name: "a failing test still unmounts its btrfs",
  ignore: skipUnlessRoot(),
  fn: async () => {
    let mountPoint = "";
    await assert.rejects(
      withBtrfs((fs) => {
        mountPoint = fs.mountPoint;
        return Promise.reject(new Error("boom"));
      }, { sizeMiB: 256 }),
      /boom/,
    );
    assert.ok(mountPoint);
    assert.ok(!(await isMounted(mountPoint)));
  },
});
