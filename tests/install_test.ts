/**
 * Policy files anywhere: `snap2s3 init DIR` writes a policy that imports
 * "snap2s3" and passes `deno check` in its directory and loads; `deno task
 * install` gives a `snap2s3` command that runs update from any directory.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { loadConfig } from "../mod.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs a command in `cwd`; its exit code and output. */
async function runIn(
  cwd: string,
  argv: string[],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("init writes a policy importing snap2s3 that passes deno check in its directory and loads; it never overwrites", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/etc/snap2s3`;
    const out = memoryOutput();
    assert.equal(
      await main(["init", target, "--timezone", "Europe/Berlin"], out),
      0,
      out.lines.join("\n"),
    );
    const policy = await Deno.readTextFile(`${target}/policy.ts`);
    assert.match(policy, /from "snap2s3";/);
    const map = JSON.parse(await Deno.readTextFile(`${target}/deno.json`));
    assert.equal(
      map.imports.snap2s3,
      new URL("../mod.ts", import.meta.url).href,
    );
    const check = await runIn(target, [Deno.execPath(), "check", "policy.ts"]);
    assert.equal(check.code, 0, check.stderr);
    const config = await loadConfig(`${target}/policy.ts`);
    assert.equal(config.timezone, "Europe/Berlin");
    assert.equal(config.sources[0].upload[0].preserve, "1y 3m 30d 24h");
    // A second init refuses, leaving the edited policy alone.
    await Deno.writeTextFile(`${target}/policy.ts`, "// mine\n");
    const again = memoryOutput();
    assert.equal(await main(["init", target], again), 2);
    assert.match(again.stderr.join("\n"), /policy\.ts exists already/);
    assert.equal(await Deno.readTextFile(`${target}/policy.ts`), "// mine\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "deno task install gives a snap2s3 command that runs update from any directory",
  ignore: skipUnlessRoot(),
  fn: async () => {
    await using fs = await createBtrfs({ sizeMiB: 256 });
    const data = `${fs.mountPoint}/data`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(`${fs.mountPoint}/remote`);
    await Deno.writeTextFile(`${data}/a.txt`, "hello\n");
    const dir = await Deno.makeTempDir();
    try {
      const installed = await runIn(
        ROOT,
        [Deno.execPath(), "task", "install"],
        {
          DENO_INSTALL_ROOT: `${dir}/root`,
        },
      );
      assert.equal(installed.code, 0, installed.stderr);
      const bin = `${dir}/root/bin/snap2s3`;
      // A policy outside the project, made by init, pointed at the test btrfs.
      assert.equal(await main(["init", `${dir}/etc`], memoryOutput()), 0);
      const policy = (await Deno.readTextFile(`${dir}/etc/policy.ts`))
        .replace('"/home"', JSON.stringify(data))
        .replace('"/.snapshots"', JSON.stringify(`${fs.mountPoint}/snapshots`))
        .replace(
          '"/mnt/backup/snap2s3"',
          JSON.stringify(`${fs.mountPoint}/remote`),
        );
      await Deno.writeTextFile(`${dir}/etc/policy.ts`, policy);
      const elsewhere = `${dir}/elsewhere`;
      await Deno.mkdir(elsewhere);
      const version = await runIn(elsewhere, [bin, "--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^snap2s3 \d+\.\d+\.\d+/);
      const r = await runIn(elsewhere, [
        bin,
        "update",
        "--force",
        `${dir}/etc/policy.ts`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /1 backup\(s\) uploaded/);
      const status = await runIn("/", [bin, "status", `${dir}/etc/policy.ts`]);
      assert.equal(status.code, 0, status.stderr + status.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
