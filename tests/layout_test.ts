/**
 * Layout validation through the CLI, on real loop btrfs: each bad layout
 * is one clear line, exit 2, and nothing is created, not even a directory.
 */
import assert from "node:assert/strict";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

function cli(args: string[]) {
  return run([Deno.execPath(), "run", "-A", CLI, ...args], {
    check: false,
    env: { NO_COLOR: "1" },
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test({
  name: "bad layouts are refused before anything is created, exit 2",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 256 });
    await using other = await createBtrfs({ sizeMiB: 256 });
    const m = fs.mountPoint;
    const data = `${m}/data`;
    const remote = `${m}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(`${data}/plain`);
    await Deno.writeTextFile(`${data}/hello.txt`, "hello\n");
    await Deno.mkdir(remote);
    await Deno.mkdir(`${data}/backups`);
    await Deno.symlink(data, `${m}/data-link`);
    await Deno.symlink(remote, `${m}/remote-link`);
    const tmp = await Deno.makeTempDir();
    const source = (over: Record<string, unknown> = {}) => ({
      kind: "btrfs",
      path: data,
      snapshots: `${m}/snapshots`,
      upload: [{ remote: "usb", preserve: "1y 1d" }],
      ...over,
    });
    const config = (over: Record<string, unknown>) => ({
      timezone: "UTC",
      sources: [source()],
      remotes: [{ kind: "local", id: "usb", path: remote }],
      ...over,
    });
    let n = 0;
    const refused = async (
      what: string,
      cfg: unknown,
      message: RegExp,
      absent: string[],
    ) => {
      await t.step(what, async () => {
        const before = await entries(data);
        const file = `${tmp}/config${n++}.ts`;
        await Deno.writeTextFile(
          file,
          `export default ${JSON.stringify(cfg, null, 2)};\n`,
        );
        const r = await cli(["update", file, "--force"]);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], message);
        for (const path of absent) assert.ok(!(await exists(path)), path);
        assert.deepEqual(await entries(data), before);
        assert.deepEqual(await entries(remote), []);
        assert.deepEqual(await entries(other.mountPoint), []);
      });
    };
    try {
      await refused(
        "a snapshot directory inside the source subvolume",
        config({ sources: [source({ snapshots: `${data}/.snapshots` })] }),
        new RegExp(
          `^snap2s3: sources\\[0\\]\\.snapshots: "${data}/\\.snapshots" is inside the source subvolume "${data}": every snapshot made there changes the source.*make "${data}/\\.snapshots" a subvolume of its own`,
        ),
        [`${data}/.snapshots`, `${m}/snapshots`],
      );
      await refused(
        "a snapshot directory deeper inside the source, below a plain directory",
        config({ sources: [source({ snapshots: `${data}/plain/a/b` })] }),
        /sources\[0\]\.snapshots: .* is inside the source subvolume/,
        [`${data}/plain/a`],
      );
      await refused(
        "a snapshot directory inside the source, reached through a symlink",
        config({ sources: [source({ snapshots: `${m}/data-link/snaps` })] }),
        /sources\[0\]\.snapshots: .* is inside the source subvolume/,
        [`${data}/snaps`],
      );
      await refused(
        "a snapshot directory on another btrfs filesystem",
        config({
          sources: [source({ snapshots: `${other.mountPoint}/snaps` })],
        }),
        /sources\[0\]\.snapshots: ".*\/snaps" is not on the btrfs filesystem of the source .*; choose a snapshot directory on the source's filesystem/,
        [`${other.mountPoint}/snaps`],
      );
      await refused(
        "a snapshot directory on a filesystem that is not btrfs",
        config({ sources: [source({ snapshots: `${tmp}/snaps/data` })] }),
        /sources\[0\]\.snapshots: .* is not on the btrfs filesystem of the source/,
        [`${tmp}/snaps`],
      );
      await refused(
        "the same subvolume twice under two paths",
        config({
          sources: [
            source(),
            source({ path: `${m}/data-link`, snapshots: `${m}/snaps2` }),
          ],
        }),
        new RegExp(
          `sources\\[1\\]\\.path: "${m}/data-link" is the same subvolume as sources\\[0\\] \\("${data}", uuid [0-9a-f-]{36}\\); list each subvolume once`,
        ),
        [`${m}/snapshots`, `${m}/snaps2`],
      );
      await refused(
        "a source that is a plain directory",
        config({ sources: [source({ path: `${data}/plain` })] }),
        /sources\[0\]\.path: .*plain is a plain directory, not a btrfs subvolume/,
        [`${m}/snapshots`],
      );
      await refused(
        "a local remote inside the source subvolume",
        config({
          remotes: [{ kind: "local", id: "usb", path: `${data}/backups` }],
        }),
        /remotes\[0\]\.path: ".*\/data\/backups" is inside the source subvolume sources\[0\]/,
        [`${m}/snapshots`],
      );
      await refused(
        "two local remotes in one directory through a symlink",
        config({
          sources: [source({
            upload: [
              { remote: "usb", preserve: "1d" },
              { remote: "usb2", preserve: "1d" },
            ],
          })],
          remotes: [
            { kind: "local", id: "usb", path: remote },
            { kind: "local", id: "usb2", path: `${m}/remote-link` },
          ],
        }),
        /remotes\[1\]\.path: ".*remote-link" is the same directory as remotes\[0\] \("usb"\) through a symbolic link/,
        [`${m}/snapshots`],
      );
      await t.step(
        "a snapshot directory that is a subvolume of its own inside the source is fine",
        async () => {
          const snaps = `${data}/.snapshots`;
          await run(["btrfs", "subvolume", "create", snaps]);
          try {
            const file = `${tmp}/nested.ts`;
            await Deno.writeTextFile(
              file,
              `export default ${
                JSON.stringify(
                  config({ sources: [source({ snapshots: snaps })] }),
                )
              };\n`,
            );
            const first = await cli(["update", file, "--force"]);
            assert.equal(first.code, 0, first.stderr);
            assert.equal((await entries(snaps)).length, 1);
            // Making that snapshot did not change the source: nothing more to do.
            const again = await cli(["update", file, "--force"]);
            assert.equal(again.code, 0, again.stderr);
            assert.match(again.stdout + again.stderr, /nothing to do/);
          } finally {
            for (const s of await entries(snaps)) {
              await run(["btrfs", "subvolume", "delete", `${snaps}/${s}`]);
            }
            await run(["btrfs", "subvolume", "delete", snaps]);
            for (const f of await entries(remote)) {
              await Deno.remove(`${remote}/${f}`, { recursive: true });
            }
          }
        },
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
