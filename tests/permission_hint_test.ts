import assert from "node:assert/strict";
import { permissionHint } from "../lib/app/permission_hint.ts";
import { isDenoPermissionError } from "../lib/drivers/btrfs/errors.ts";

Deno.test("a missing Deno permission becomes a hint naming the flag and its value", () => {
  const e = new Deno.errors.NotCapable(
    'Requires run access to "/usr/bin/btrfs", run again with the --allow-run flag',
  );
  assert.equal(
    permissionHint(e),
    'missing permission: run access to "/usr/bin/btrfs"; grant it with --allow-run=btrfs',
  );
});

Deno.test("the CLI and the drivers agree on what a permission error is", () => {
  const cases: [unknown, boolean][] = [
    [new Deno.errors.NotCapable("Requires read access to /etc"), true],
    [new Deno.errors.PermissionDenied('Requires env access to "HOME"'), true],
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      false,
    ],
    [new Error("Requires read access"), false],
  ];
  for (const [e, expected] of cases) {
    assert.equal(isDenoPermissionError(e), expected, String(e));
    assert.equal(permissionHint(e) !== null, expected, String(e));
  }
});

Deno.test("a driver error that already names the flag is shown as it is", () => {
  const cause = new Deno.errors.NotCapable(
    'Requires ffi access to "libc.so.6"',
  );
  const e = new Error(
    "reading metadata needs FFI access: run deno with --allow-ffi",
    {
      cause,
    },
  );
  assert.equal(permissionHint(e), e.message);
});
