/**
 * Preflight: what would fail mid-run fails before anything changes, exit 2
 * with the fix: a pipe stage not allowed by --allow-run, no CAP_SYS_ADMIN,
 * a scoped --allow-ffi, a refused, unknown or blocked S3 endpoint, a
 * missing local directory. Real btrfs, the CLI as a user runs it.
 */
import assert from "node:assert/strict";
import { parseProcStatus } from "../lib/drivers/btrfs/privilege.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];

function cli(args: string[], flags = FLAGS, prefix: string[] = []) {
  return run([...prefix, Deno.execPath(), "run", ...flags, CLI, ...args], {
    check: false,
    env: { NO_COLOR: "1" },
  });
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** A port nothing listens on: bound, then freed. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test({
  name:
    "preflight stops a run that would fail, before any snapshot exists (exit 2, with the fix)",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 256 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    await Deno.writeTextFile(`${data}/a.txt`, "hello\n");
    const dir = await Deno.makeTempDir();
    const local = { kind: "local", id: "usb", path: remote };
    const write = async (
      name: string,
      remotes: unknown[],
      pipe: unknown[] = [],
    ) => {
      const path = `${dir}/${name}.ts`;
      const config = {
        timezone: "UTC",
        remotes,
        sources: [{
          kind: "btrfs",
          path: data,
          snapshots: snaps,
          upload: [{
            remote: (remotes[0] as { id: string }).id,
            preserve: "1d",
            pipe,
          }],
        }],
      };
      await Deno.writeTextFile(
        path,
        `export default ${JSON.stringify(config)};`,
      );
      return path;
    };
    const s3 = (endpoint: string) => ({
      kind: "s3",
      id: "ceph",
      bucket: "b",
      endpoint,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "k",
      secretAccessKey: "s",
    });
    const nothingChanged = async () => {
      assert.deepEqual(await entries(snaps), [], "no snapshot");
      assert.deepEqual(await entries(remote), [], "nothing uploaded");
    };
    try {
      await t.step(
        "a pipe stage missing from --allow-run: exit 2 naming the flag",
        async () => {
          const policy = await write("zstd", [local], [{ kind: "zstd" }]);
          const flags = FLAGS.map((f) =>
            f === "--allow-run" ? "--allow-run=btrfs" : f
          );
          const r = await cli(["update", "--force", policy], flags);
          assert.equal(r.code, 2, r.stderr);
          assert.match(
            r.stderr,
            /running zstd \(sources\[0\]\.upload\[0\]\.pipe\[0\]\) is not allowed: grant it with --allow-run=btrfs,zstd/,
          );
          await nothingChanged();
          // With it allowed, the same run backs up.
          const ok = await cli(
            ["update", "--force", policy],
            FLAGS.map((f) =>
              f === "--allow-run" ? "--allow-run=btrfs,zstd" : f
            ),
          );
          assert.equal(ok.code, 0, ok.stderr);
          assert.equal((await entries(snaps)).length, 1);
          for (const name of await entries(snaps)) {
            await run(["btrfs", "subvolume", "delete", `${snaps}/${name}`]);
          }
          for (const name of await entries(remote)) {
            await Deno.remove(`${remote}/${name}`, { recursive: true });
          }
          await Deno.writeTextFile(`${data}/a.txt`, "changed\n");
        },
      );

      await t.step("a pipe program not on PATH: exit 2", async () => {
        const policy = await write("missing", [local], [{
          kind: "cmd",
          argv: ["snap2s3-no-such-program"],
        }]);
        const r = await cli(["update", "--force", policy]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /snap2s3-no-such-program .* is not on PATH/);
        await nothingChanged();
      });

      await t.step(
        "without CAP_SYS_ADMIN: exit 2, and --pretend still plans",
        async () => {
          const policy = await write("plain", [local]);
          const drop = [
            "setpriv",
            "--bounding-set=-sys_admin",
            "--inh-caps=-sys_admin",
          ];
          const r = await cli(["update", "--force", policy], FLAGS, drop);
          assert.equal(r.code, 2, r.stderr);
          assert.match(r.stderr, /need root \(CAP_SYS_ADMIN\).*--pretend/);
          await nothingChanged();
          const pretend = await cli(
            ["update", "--pretend", policy],
            FLAGS,
            drop,
          );
          assert.equal(pretend.code, 0, pretend.stderr);
          assert.match(pretend.stdout, /create snapshot/);
        },
      );

      await t.step(
        "a scoped --allow-ffi: exit 2, use --allow-ffi without a value",
        async () => {
          const policy = await write("plain", [local]);
          const flags = FLAGS.map((f) =>
            f === "--allow-ffi" ? "--allow-ffi=libc.so.6" : f
          );
          const r = await cli(["update", "--pretend", policy], flags);
          assert.equal(r.code, 2, r.stderr);
          assert.match(r.stderr, /use --allow-ffi without a value/);
          await nothingChanged();
        },
      );

      await t.step("a refused endpoint: exit 2 within 10 s", async () => {
        const policy = await write("refused", [
          s3(`http://127.0.0.1:${freePort()}`),
        ]);
        const t0 = performance.now();
        const r = await cli(["update", "--force", policy]);
        const secs = (performance.now() - t0) / 1000;
        assert.equal(r.code, 2, r.stderr);
        assert.ok(secs < 10, `took ${secs.toFixed(1)} s`);
        assert.match(
          r.stderr,
          /remote ceph: connection to 127\.0\.0\.1:\d+ refused \(3 attempts in [\d.]+ s\): is the server up, and remotes\[0\]\.endpoint right\?/,
        );
        await nothingChanged();
      });

      await t.step(
        "a port Deno refuses and an unknown host: exit 2",
        async () => {
          const blocked = await cli([
            "update",
            "--force",
            await write("blocked", [s3("http://127.0.0.1:6000")]),
          ]);
          assert.equal(blocked.code, 2, blocked.stderr);
          assert.match(blocked.stderr, /Deno refuses connections to port 6000/);
          const unknown = await cli(
            [
              "update",
              "--force",
              await write("unknown", [s3("http://no-such-host.invalid:7480")]),
            ],
            FLAGS.map((f) => f.startsWith("--allow-net") ? "--allow-net" : f),
          );
          assert.equal(unknown.code, 2, unknown.stderr);
          assert.match(unknown.stderr, /unknown host no-such-host\.invalid/);
          await nothingChanged();
        },
      );

      await t.step("a local remote that is not there: exit 2", async () => {
        const policy = await write("nodir", [{
          ...local,
          path: `${dir}/unmounted`,
        }]);
        const r = await cli(["update", "--force", policy]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          /directory .*unmounted does not exist: create it/,
        );
        assert.deepEqual(await entries(snaps), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("CAP_SYS_ADMIN is read from CapEff in /proc/self/status", () => {
  const status = (uid: number, cap: string) =>
    `Name:\tdeno\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapEff:\t${cap}\n`;
  assert.deepEqual(parseProcStatus(status(0, "000001ffffffffff")), {
    euid: 0,
    sysAdmin: true,
  });
  assert.equal(parseProcStatus(status(0, "000001fffedfffff"))?.sysAdmin, false);
  assert.equal(
    parseProcStatus(status(1000, "0000000000200000"))?.sysAdmin,
    true,
  );
  assert.equal(
    parseProcStatus(status(1000, "0000000000000000"))?.sysAdmin,
    false,
  );
  assert.equal(parseProcStatus("Name:\tx\n"), null);
});
