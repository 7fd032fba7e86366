import assert from "node:assert/strict";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name:
    "the demo (the README's first command) backs up, lists, restores and finds the files identical",
  ignore: skipUnlessRoot("the demo needs root for its loop-mounted btrfs"),
  fn: async () => {
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=demo", "scripts/demo.ts"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    });
    const out = await cmd.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
    assert.match(stdout, /files of .* identical/);
    assert.match(stdout, /demo passed/);
    // It cleaned up after itself: no loop mount of its own is left.
    const mountPoint = stdout.match(/^source (\S+)\/data,/m)?.[1];
    assert.ok(mountPoint, "the demo names its source");
    const found = await run(["findmnt", "-n", "--mountpoint", mountPoint], {
      check: false,
    });
    assert.ok(!found.success, `${mountPoint} is still mounted`);
  },
});
