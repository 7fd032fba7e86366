import assert from "node:assert/strict";
import { run } from "./fixtures/process.ts";

/**
 * Runs a snippet that imports the btrfs driver in a fresh Deno with exactly
 * `flags`, and returns its combined output. The snippet prints the error
 * message it catches.
 */
async function driverWith(
  flags: string[],
  code: string,
  env: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const driver =
      new URL("../lib/drivers/btrfs/driver.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import * as d from ${JSON.stringify(driver)};\n` +
        `try { ${code} console.log("no error"); } catch (e) { console.log(e.name + ": " + e.message); }\n`,
    );
    const r = await run([
      Deno.execPath(),
      "run",
      "--no-config",
      "--no-lock",
      "--no-prompt",
      ...flags,
      `${dir}/script.ts`,
    ], { env: { NO_COLOR: "1", ...env } });
    return r.stdout.trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("without --allow-ffi, reading subvolume metadata says to add --allow-ffi", async () => {
  assert.equal(
    await driverWith(["--allow-read"], `await d.getSubvolumeInfo("/");`),
    "BtrfsError: reading btrfs subvolume metadata needs FFI access: run deno with --allow-ffi",
  );
});

Deno.test("without --allow-run, running btrfs says to add --allow-run=btrfs", async () => {
  assert.equal(
    await driverWith(
      ["--allow-read", "--allow-ffi"],
      `await d.sendCapabilities();`,
    ),
    "BtrfsError: running btrfs needs permission: run deno with --allow-run=btrfs",
  );
});

Deno.test("without btrfs-progs on PATH, running btrfs says to install btrfs-progs", async () => {
  const empty = await Deno.makeTempDir();
  try {
    assert.equal(
      await driverWith(
        ["--allow-read", "--allow-ffi", "--allow-run", "--allow-env"],
        `await d.sendCapabilities();`,
        { PATH: empty },
      ),
      "BtrfsError: the btrfs command was not found on PATH: install btrfs-progs (e.g. apt-get install btrfs-progs)",
    );
  } finally {
    await Deno.remove(empty);
  }
});

Deno.test("without --allow-read, listing snapshots says to add --allow-read", async () => {
  const out = await driverWith(
    ["--allow-ffi"],
    `await d.listSnapshots("/", "/");`,
  );
  assert.match(
    out,
    /^BtrfsError: reading \/ needs permission: run deno with --allow-read$/,
  );
});
