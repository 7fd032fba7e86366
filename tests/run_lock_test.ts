/**
 * One run per source, for real: two `update --force` at once on one loop
 * btrfs source with a local-directory remote. The CLI as a user runs it.
 */
import assert from "node:assert/strict";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { acquireLock, sourceLockPath } from "../lib/app/lock.ts";
import { findCommand, parseCommandLine } from "../lib/app/cli/args.ts";
import { commandUsage } from "../lib/app/cli/usage.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
];

function cli(args: string[]) {
  return run([Deno.execPath(), "run", ...FLAGS, CLI, ...args], {
    check: false,
    env: { NO_COLOR: "1" },
  });
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** A source with 8 MiB in it, a local remote, and a config whose pipe stage takes 3 s. */
async function setup(dir: string, mountPoint: string) {
  const data = `${mountPoint}/data`;
  const snaps = `${mountPoint}/snapshots`;
  const remote = `${mountPoint}/remote`;
  await run(["btrfs", "subvolume", "create", data]);
  await Deno.mkdir(remote);
  await Deno.writeFile(`${data}/blob.bin`, randomBytes(8 << 20));
  const config = `${dir}/policy.ts`;
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
          upload: [{
            remote: "usb",
            preserve: "1y 1d",
            // Slow enough that both runs overlap.
            pipe: [{ kind: "cmd", argv: ["sh", "-c", "sleep 3; exec cat"] }],
          }],
        }],
      })
    };\n`,
  );
  return { data, snaps, remote, config };
}

Deno.test({
  name:
    "two update --force at once on one source: one backs up, the other exits 75 naming the holder",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const dir = await Deno.makeTempDir();
    try {
      const { data, snaps, remote, config } = await setup(dir, fs.mountPoint);
      const [a, b] = await Promise.all([
        cli(["update", "--force", config]),
        cli(["update", "--force", config]),
      ]);
      const codes = [a.code, b.code].sort();
      assert.deepEqual(codes, [0, 75], `${a.stderr}\n---\n${b.stderr}`);
      const loser = a.code === 75 ? a : b;
      const lines = loser.stderr.trim().split("\n");
      assert.equal(lines.length, 1, loser.stderr);
      assert.match(
        lines[0],
        new RegExp(
          `^snap2s3: source ${data} is locked by snap2s3 update \\(pid \\d+ on [^,]+, since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, \\d+ s ago\\) \\(lock file ${snaps}/\\.snap2s3-data\\.lock\\); try again later, or wait for it with --wait-lock\\[=SECONDS\\]$`,
        ),
      );
      // Exactly one snapshot, one backup, nothing left over.
      const snapshots = await names(snaps);
      assert.equal(snapshots.length, 1, snapshots.join(" "));
      assert.doesNotMatch(snapshots[0], /\.NEW\./);
      const keys = (await names(remote)).filter((n) => n.startsWith("data."));
      assert.equal(keys.length, 1, keys.join(" "));
      assert.deepEqual(await names(`${remote}/.snap2s3-partial`), []);
      // The lock is free.
      await (await acquireLock(sourceLockPath(snaps, "data"))).release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "with --wait-lock the second run waits for the first, then finds nothing to do",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const dir = await Deno.makeTempDir();
    try {
      const { snaps, remote, config } = await setup(dir, fs.mountPoint);
      const [a, b] = await Promise.all([
        cli(["update", "--force", "--wait-lock", config]),
        cli(["update", "--force", "--wait-lock=120", config]),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const waited = [a, b].filter((r) =>
        /waiting for source .* locked by snap2s3 update \(pid \d+/.test(
          r.stderr,
        )
      );
      assert.equal(waited.length, 1, `${a.stderr}\n---\n${b.stderr}`);
      assert.match(waited[0].stdout + waited[0].stderr, /nothing to do/);
      assert.equal((await names(snaps)).length, 1);
      const keys = (await names(remote)).filter((n) => n.startsWith("data."));
      assert.equal(keys.length, 1, keys.join(" "));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("--wait-lock takes an optional =SECONDS and never the next argument", () => {
  const bare = parseCommandLine(["update", "--wait-lock", "policy.ts"]);
  assert.ok(bare.kind === "run");
  assert.equal(bare.args.optional("wait-lock"), true);
  assert.equal(bare.args.required("config"), "policy.ts");
  const timed = parseCommandLine([
    "restore",
    "--wait-lock=600",
    "c",
    "/d",
    "r",
  ]);
  assert.ok(timed.kind === "run");
  assert.equal(timed.args.optional("wait-lock"), "600");
  const none = parseCommandLine(["update", "policy.ts"]);
  assert.ok(none.kind === "run");
  assert.equal(none.args.optional("wait-lock"), undefined);
  assert.throws(
    () => parseCommandLine(["update", "--wait-lock=", "policy.ts"]),
    /--wait-lock= needs a value: --wait-lock=SECONDS/,
  );
  assert.throws(
    () => parseCommandLine(["update", "--wait-lock", "--wait-lock=1", "p"]),
    /--wait-lock is given twice/,
  );
  for (const name of ["update", "restore"]) {
    const help = commandUsage(findCommand(name));
    assert.match(
      help,
      /--wait-lock\[=SECONDS\]\s+when another run holds the lock/,
    );
    assert.match(help, /75\s+try again later: another run holds the lock/);
  }
});
