/**
 * The object lock and storage class fields: TypeScript and YAML spellings,
 * and the problems they can have (named by their field path).
 */
import assert from "node:assert/strict";
import { b2, btrfs, defineConfig, r2, s3 } from "../lib/app/config/define.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import { parseBtrfs2s3Yaml } from "../lib/app/config/yaml.ts";
import type { ConfigInput } from "../lib/core/config_types.ts";

function config(
  remote: Record<string, unknown>,
  upload: Record<string, unknown> = {},
): ConfigInput {
  return {
    timezone: "UTC",
    sources: [{
      kind: "btrfs",
      path: "/data",
      snapshots: "/snapshots",
      upload: [{ remote: "r", preserve: "2y 1m 1d", ...upload }],
    }],
    remotes: [{ kind: "s3", id: "r", bucket: "b", ...remote }],
  } as ConfigInput;
}

function problems(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split("\n");
  }
  assert.fail("the config was accepted");
}

Deno.test("objectLock and storageClasses validate and come through unchanged", () => {
  const c = validateConfig(defineConfig({
    timezone: "UTC",
    sources: [btrfs({
      path: "/data",
      snapshots: "/snapshots",
      upload: [{
        remote: "aws",
        preserve: "2y 1m 1d",
        storageClasses: { y: "GLACIER", m: "STANDARD_IA" },
      }, { remote: "b2", preserve: "30d" }],
    })],
    remotes: [
      s3({
        id: "aws",
        bucket: "b",
        objectLock: { mode: "GOVERNANCE", extraDays: 7 },
      }),
      b2({
        id: "b2",
        bucket: "b",
        region: "us-west-004",
        objectLock: { mode: "COMPLIANCE" },
      }),
    ],
  }));
  const [aws, back] = c.remotes;
  assert.ok(aws.kind === "s3" && back.kind === "b2");
  assert.deepEqual(aws.objectLock, { mode: "GOVERNANCE", extraDays: 7 });
  assert.deepEqual(back.objectLock, { mode: "COMPLIANCE" });
  assert.deepEqual(c.sources[0].upload[0].storageClasses, {
    y: "GLACIER",
    m: "STANDARD_IA",
  });
});

Deno.test("a bad lock mode, extra days or storage class unit is refused at its field", () => {
  assert.deepEqual(problems(config({ objectLock: { mode: "governance" } })), [
    'remotes[0].objectLock.mode: expected "GOVERNANCE" or "COMPLIANCE", got the string "governance"',
  ]);
  assert.match(
    problems(config({ objectLock: { mode: "COMPLIANCE", extraDays: -1 } }))[0],
    /^remotes\[0\]\.objectLock\.extraDays: must be an integer from 0 to 36500/,
  );
  assert.match(
    problems(config({ objectLock: { mode: "COMPLIANCE", days: 1 } }))[0],
    /^remotes\[0\]\.objectLock\.days: unknown field; allowed: mode, extraDays/,
  );
  assert.match(
    problems(config({}, { storageClasses: { Y: "GLACIER" } }))[0],
    /^sources\[0\]\.upload\[0\]\.storageClasses\.Y: unknown field \(did you mean "y"\?\)/,
  );
  assert.deepEqual(problems(config({}, { storageClasses: { w: "GLACIER" } })), [
    'sources[0].upload[0].storageClasses.w: the policy "2y 1m 1d" keeps nothing for unit w, so this class would never be used; use one of its units (y, m, d) or remove it',
  ]);
  assert.match(
    problems(config({}, { storageClasses: { y: "" } }))[0],
    /^sources\[0\]\.upload\[0\]\.storageClasses\.y: must not be empty/,
  );
});

Deno.test("object lock on R2 and storage classes on a local directory are refused", () => {
  const onR2 = {
    timezone: "UTC",
    sources: [],
    remotes: [r2({
      id: "r2",
      accountId: "0123456789abcdef0123456789abcdef",
      bucket: "b",
      objectLock: { mode: "GOVERNANCE" },
    })],
  };
  assert.match(
    problems(onR2)[0],
    /^remotes\[0\]\.objectLock: Cloudflare R2 has no per-object retention/,
  );
  const local = {
    timezone: "UTC",
    sources: [{
      kind: "btrfs",
      path: "/data",
      snapshots: "/snapshots",
      upload: [{
        remote: "usb",
        preserve: "1y",
        storageClasses: { y: "GLACIER" },
      }],
    }],
    remotes: [{ kind: "local", id: "usb", path: "/mnt/usb" }],
  };
  assert.match(
    problems(local)[0],
    /^sources\[0\]\.upload\[0\]\.storageClasses: remote usb is a local directory/,
  );
});

const YAML = `timezone: UTC
sources:
  - path: /srv/data
    snapshots: /srv/snapshots
    upload_to_remotes:
      - id: main
        preserve: 2y 1m 1d
        storage_classes:
          y: GLACIER
remotes:
  - id: main
    s3:
      bucket: data-backups
      object_lock:
        mode: GOVERNANCE
        extra_days: 3
`;

Deno.test("YAML spells them object_lock { mode, extra_days } and storage_classes", () => {
  const c = parseBtrfs2s3Yaml(YAML);
  const r = c.remotes[0];
  assert.ok(r.kind === "s3");
  assert.deepEqual(r.objectLock, { mode: "GOVERNANCE", extraDays: 3 });
  assert.deepEqual(c.sources[0].upload[0].storageClasses, { y: "GLACIER" });
});

Deno.test("YAML errors in them name the YAML fields", () => {
  const fails = (yaml: string): string => {
    try {
      parseBtrfs2s3Yaml(yaml, "c.yaml");
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    assert.fail("accepted");
  };
  assert.match(
    fails(YAML.replace("extra_days: 3", "extra_days: lots")),
    /^c\.yaml: remotes\[0\]\.s3\.object_lock\.extra_days: /,
  );
  assert.match(
    fails(YAML.replace("mode: GOVERNANCE", "mode: STRICT")),
    /^c\.yaml: remotes\[0\]\.s3\.object_lock\.mode: expected "GOVERNANCE" or "COMPLIANCE", got the string "STRICT"/,
  );
  assert.match(
    fails(YAML.replace("extra_days: 3", "extra_dayz: 3")),
    /^c\.yaml: remotes\[0\]\.s3\.object_lock\.extra_dayz: unknown field \(did you mean "extra_days"\?\)/,
  );
  assert.match(
    fails(YAML.replace("y: GLACIER", "w: GLACIER")),
    /^c\.yaml: sources\[0\]\.upload_to_remotes\[0\]\.storage_classes\.w: the policy "2y 1m 1d" keeps nothing for unit w/,
  );
});
