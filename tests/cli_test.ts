/**
 * The command line as a user meets it: bad configs, confirmation, --pretend,
 * list-backups, exit codes. Real btrfs and a local-directory remote.
 */
import assert from "node:assert/strict";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
];

function cli(args: string[], flags = FLAGS) {
  return run([Deno.execPath(), "run", ...flags, CLI, ...args], {
    check: false,
    env: { NO_COLOR: "1" },
  });
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

Deno.test({
  name: "the CLI: bad configs, confirmation, --pretend, --force, list-backups",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    await Deno.writeTextFile(`${data}/hello.txt`, "hello\n");
    const dir = await Deno.makeTempDir();
    const good = {
      timezone: "UTC",
      remotes: [{ kind: "local", id: "usb", path: remote }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: snaps,
        upload: [{ remote: "usb", preserve: "1y 1d" }],
      }],
    };
    const write = async (name: string, config: unknown) => {
      const path = `${dir}/${name}.ts`;
      await Deno.writeTextFile(
        path,
        `export default ${JSON.stringify(config, null, 2)};\n`,
      );
      return path;
    };
    try {
      const bad: [string, unknown, RegExp][] = [
        ["unknown field", { ...good, retention: "1y" }, /retention/],
        [
          "wrong type",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "usb", preserve: 5 }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.preserve/,
        ],
        [
          "bad policy",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "usb", preserve: "1y 1Y" }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.preserve.*1Y/,
        ],
        [
          "unknown remote id",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "aws", preserve: "1y" }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.remote.*aws/,
        ],
        ["missing timezone", { ...good, timezone: undefined }, /timezone/],
      ];
      for (const [what, config, message] of bad) {
        await t.step(
          `a config with ${what} gives one clear error and changes nothing`,
          async () => {
            const r = await cli([
              "update",
              "--force",
              await write(what.replaceAll(" ", "_"), config),
            ]);
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, message);
            assert.equal(
              r.stderr.trim().split("\n").filter((l) =>
                l.startsWith("snap2s3:")
              ).length,
              1,
              r.stderr,
            );
            assert.deepEqual(await entries(snaps), []);
            assert.deepEqual(await entries(remote), []);
          },
        );
      }
      const path = await write("good", good);
      await t.step(
        "without a terminal and without --force, update refuses and changes nothing",
        async () => {
          const r = await cli(["update", path]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /--force/);
          assert.match(r.stdout, /create snapshot/);
          assert.deepEqual(await entries(snaps), []);
        },
      );
      await t.step(
        "on a terminal, update asks continue? and does nothing on no",
        async () => {
          // `script` gives the CLI a pseudo-terminal; we answer "n".
          const line = [Deno.execPath(), "run", ...FLAGS, CLI, "update", path]
            .map((a) => `'${a}'`).join(" ");
          const r = await run(["script", "-qec", line, "/dev/null"], {
            check: false,
            stdin: "n\n",
          });
          assert.match(r.stdout, /continue\?/);
          assert.match(r.stdout, /not confirmed/);
          assert.equal(r.code, 1);
          assert.deepEqual(await entries(snaps), []);
        },
      );
      await t.step(
        "--pretend prints the plan and changes nothing",
        async () => {
          const r = await cli(["update", "--pretend", path]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /upload/);
          assert.deepEqual(await entries(snaps), []);
          assert.deepEqual(await entries(remote), []);
        },
      );
      await t.step(
        "--force carries the plan out; a second run does nothing; list-backups shows the tree",
        async () => {
          const r = await cli(["update", "--force", path]);
          assert.equal(r.code, 0, r.stderr);
          // Without a terminal every action line is timestamped.
          assert.match(
            r.stdout,
            /^\d{4}-\d\d-\d\dT[\d:.]+Z created snapshot /m,
          );
          assert.equal((await entries(snaps)).length, 1);
          const again = await cli(["update", "--force", path]);
          assert.match(again.stdout, /nothing to do/);
          const list = await cli(["list-backups", path, "usb", "--json"]);
          assert.equal(list.code, 0, list.stderr);
          const listing = JSON.parse(list.stdout);
          assert.equal(listing.sources[0].backups.length, 1);
          assert.equal(listing.sources[0].backups[0].parent, null);
          const text = await cli(["list-backups", path, "usb"]);
          assert.match(text.stdout, /1 backup\(s\), 1 full/);
        },
      );
      await t.step(
        "a missing permission gives a one-line hint naming the flag",
        async () => {
          const r = await cli(
            ["update", "--pretend", path],
            FLAGS.filter((f) => f !== "--allow-ffi"),
          );
          assert.equal(r.code, 2);
          assert.match(r.stderr, /--allow-ffi/);
        },
      );
      await t.step(
        "an unknown command and a missing argument are usage errors",
        async () => {
          assert.equal((await cli(["frobnicate"])).code, 2);
          const r = await cli(["restore", path]);
          assert.equal(r.code, 2);
          assert.match(r.stderr, /<dest>/);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
