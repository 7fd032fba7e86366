import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  age,
  b2,
  btrfs,
  cmd,
  defineConfig,
  gpg,
  gzip,
  localDir,
  r2,
  s3,
  zstd,
} from "../lib/app/config/define.ts";
import { loadConfig } from "../lib/app/config/load.ts";
import type { Config, ConfigInput } from "../lib/core/config_types.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { validateConfig } from "../lib/app/config/validate.ts";

const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/configs/${name}`, import.meta.url));

/** A small valid config to break one field at a time. */
function base(): ConfigInput {
  return {
    timezone: "Europe/Berlin",
    sources: [{
      kind: "btrfs",
      path: "/data",
      snapshots: "/snapshots",
      upload: [
        { remote: "aws", preserve: "1y 3m 30d 24h" },
        { remote: "local", preserve: "7d" },
      ],
    }],
    remotes: [
      { kind: "s3", id: "aws", bucket: "backups" },
      { kind: "local", id: "local", path: "/mnt/usb" },
    ],
  };
}

/** Validates `data`, expecting exactly one problem; returns the message line. */
function onlyProblem(data: unknown): string {
  try {
    validateConfig(data);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.problems.length, 1, e.message);
    assert.equal(e.message.split("\n").length, 1);
    return e.message;
  }
  assert.fail("the config was accepted");
}

/** Expects `promise` to reject with an error whose message matches `pattern`. */
async function rejectsWith(promise: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(promise, (e: unknown) => {
    assert.match((e as Error).message, pattern);
    return true;
  });
}

const AGE_RECIPIENT =
  "age13xstt9tjpnyruqag580erpwhy2hswsdx32reu44luypx7l4uxyrqs9pgun";

const FULL: Config = {
  timezone: "Europe/Berlin",
  sources: [
    {
      kind: "btrfs",
      path: "/data/home",
      snapshots: "/data/.snapshots",
      upload: [
        {
          remote: "aws",
          preserve: "1y 3m 30d 24h",
          pipe: [
            { kind: "zstd", level: 12 },
            {
              kind: "age",
              recipients: [AGE_RECIPIENT],
              identityFile: "/root/.config/snap2s3/age.key",
            },
          ],
          storageClass: "STANDARD_IA",
        },
        { remote: "usb", preserve: "1m 7d", pipe: [{ kind: "gzip" }] },
      ],
    },
    {
      kind: "btrfs",
      path: "/data/root",
      snapshots: "/data/.snapshots",
      upload: [
        {
          remote: "r2",
          preserve: "1y 12m",
          pipe: [
            { kind: "gpg", recipient: "backup@example.com" },
            {
              kind: "cmd",
              argv: ["mbuffer", "-q", "-m", "64M"],
              inverse: ["cat"],
            },
          ],
        },
        { remote: "b2", preserve: "2y", pipe: [] },
      ],
    },
  ],
  remotes: [
    {
      kind: "s3",
      id: "aws",
      bucket: "host-backups",
      region: "eu-central-1",
      profile: "backup",
      prefix: "host/",
      partSizeMiB: 16,
      concurrency: 8,
      verifyTls: true,
    },
    {
      kind: "r2",
      id: "r2",
      accountId: "0123456789abcdef0123456789abcdef",
      bucket: "host-backups",
      accessKeyId: "r2-key",
      secretAccessKey: "r2-secret",
      verifyTls: true,
      region: "auto",
      endpoint:
        "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    },
    {
      kind: "b2",
      id: "b2",
      bucket: "host-backups",
      region: "us-west-004",
      verifyTls: true,
      endpoint: "https://s3.us-west-004.backblazeb2.com",
    },
    { kind: "local", id: "usb", path: "/mnt/usb/backups" },
  ],
};

Deno.test("a typed config file loads with defaults filled and endpoints derived", async () => {
  assert.deepEqual(await loadConfig(fixture("full.ts")), FULL);
});

Deno.test("a config written as plain data with only `import type` equals the helper-built one", async () => {
  assert.deepEqual(await loadConfig(fixture("plain.ts")), FULL);
});

Deno.test("validating a validated config changes nothing", () => {
  assert.deepEqual(validateConfig(validateConfig(FULL)), FULL);
  assert.deepEqual(
    validateConfig(structuredClone(FULL)),
    validateConfig(JSON.parse(JSON.stringify(FULL))),
  );
});

Deno.test("helpers return plain tagged objects without undefined fields", () => {
  const stages = [
    zstd(),
    zstd({ level: 3 }),
    gzip(),
    age({ recipients: [AGE_RECIPIENT] }),
    gpg({ recipient: "me@example.com" }),
    cmd(["xz"]),
    cmd(["xz"], { inverse: ["xz", "-d"], suffix: "xz" }),
  ];
  assert.deepEqual(stages, [
    { kind: "zstd" },
    { kind: "zstd", level: 3 },
    { kind: "gzip" },
    { kind: "age", recipients: [AGE_RECIPIENT] },
    { kind: "gpg", recipient: "me@example.com" },
    { kind: "cmd", argv: ["xz"] },
    { kind: "cmd", argv: ["xz"], inverse: ["xz", "-d"], suffix: "xz" },
  ]);
  for (
    const value of [
      ...stages,
      btrfs(base().sources[0]),
      s3({ id: "a", bucket: "b" }),
    ]
  ) {
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  }
  const config = defineConfig({
    timezone: "UTC",
    sources: [],
    remotes: [
      r2({
        id: "r",
        accountId: "0123456789abcdef0123456789abcdef",
        bucket: "b",
      }),
      b2({ id: "b", bucket: "b", region: "eu-central-003" }),
      localDir({ id: "l", path: "/l" }),
    ],
  });
  assert.deepEqual(config.remotes.map((r) => r.kind), ["r2", "b2", "local"]);
  assert.equal(validateConfig(config).remotes[1].kind, "b2");
});

Deno.test("an unknown field is one error naming it and the right spelling", () => {
  const data = base() as unknown as { remotes: Record<string, unknown>[] };
  data.remotes[0].pathstyle = true;
  assert.equal(
    onlyProblem(data),
    `remotes[0].pathstyle: unknown field (did you mean "pathStyle"?); allowed: kind, id, bucket, prefix, pathStyle, profile, accessKeyId, secretAccessKey, verifyTls, caBundle, storageClass, partSizeMiB, concurrency, memoryMiB, bandwidth, objectLock, region, endpoint`,
  );
});

Deno.test("a field of the wrong type is one error naming the field and both types", () => {
  const data = base() as unknown as { remotes: Record<string, unknown>[] };
  data.remotes[0].bucket = 42;
  assert.equal(
    onlyProblem(data),
    "remotes[0].bucket: expected a string, got number 42",
  );
});

Deno.test("a missing required field is one error saying it is required", () => {
  const data = base() as unknown as { remotes: Record<string, unknown>[] };
  delete data.remotes[0].bucket;
  assert.equal(onlyProblem(data), "remotes[0].bucket: required (a string)");
});

Deno.test("a bad policy token is one error naming the token", () => {
  const data = base();
  data.sources[0].upload[1].preserve = "1y 1Y";
  assert.match(
    onlyProblem(data),
    /^sources\[0\]\.upload\[1\]\.preserve: bad policy token "1Y": .*e\.g\. "1y 3m 30d 24h"/,
  );
});

Deno.test("policies out of order, with double spaces or a leading space are rejected", () => {
  for (
    const [policy, pattern] of [
      ["1m 1y", /"1y" is out of order/],
      ["1y  3m", /more than one space/],
      [" 1y", /leading space/],
      ["1y1m", /joins several groups/],
    ] as const
  ) {
    const data = base();
    data.sources[0].upload[0].preserve = policy;
    assert.match(onlyProblem(data), pattern);
  }
  const ok = base();
  ok.sources[0].upload[0].preserve = "1y 3m 30d 24h 60M 60s ";
  validateConfig(ok);
  ok.sources[0].upload[0].preserve = "";
  validateConfig(ok);
});

Deno.test("an unknown remote id is one error listing the defined ids", () => {
  const data = base();
  data.sources[0].upload[0].remote = "aws2";
  assert.equal(
    onlyProblem(data),
    `sources[0].upload[0].remote: unknown remote id "aws2"; defined: aws, local`,
  );
});

Deno.test("a missing timezone is one error asking for an IANA zone", () => {
  const data = base() as Partial<ConfigInput>;
  delete data.timezone;
  assert.equal(
    onlyProblem(data),
    `timezone: required: the IANA time zone policy intervals are computed in, e.g. "Europe/Berlin" or "UTC" (the system zone is never used)`,
  );
});

Deno.test("an unknown timezone or a UTC offset is rejected with examples", () => {
  const data = base();
  data.timezone = "Europe/Atlantis";
  assert.equal(
    onlyProblem(data),
    `timezone: unknown time zone "Europe/Atlantis"; use an IANA zone name such as "Europe/Berlin", "America/Los_Angeles" or "UTC"`,
  );
  data.timezone = "+02:00";
  assert.match(
    onlyProblem(data),
    /^timezone: "\+02:00" is a UTC offset, not an IANA zone/,
  );
  data.timezone = "UTC";
  validateConfig(data);
});

Deno.test("a duplicate remote id is one error naming both places", () => {
  const data = base();
  data.remotes.push({ kind: "local", id: "aws", path: "/mnt/other" });
  assert.equal(
    onlyProblem(data),
    `remotes[2].id: duplicate remote id "aws" (also remotes[0]); give every remote its own id`,
  );
});

Deno.test("an unknown kind is one error listing the kinds", () => {
  const data = base() as { sources: { upload: { pipe?: unknown[] }[] }[] };
  data.sources[0].upload[0].pipe = [{ kind: "zst" }];
  assert.equal(
    onlyProblem(data),
    `sources[0].upload[0].pipe[0].kind: unknown kind "zst"; expected one of "zstd", "gzip", "age", "gpg", "cmd"`,
  );
});

Deno.test("remote-specific checks: relative paths, bad URLs, lone keys, B2 regions, R2 account ids", () => {
  const cases: [(d: ConfigInput) => void, RegExp][] = [
    [
      (d) => d.sources[0].path = "data",
      /^sources\[0\]\.path: must be an absolute path/,
    ],
    [
      (d) =>
        d.remotes[0] = {
          kind: "s3",
          id: "aws",
          bucket: "b",
          endpoint: "s3.example.com",
        },
      /^remotes\[0\]\.endpoint: not an http\(s\) URL/,
    ],
    [
      (d) =>
        d.remotes[0] = { kind: "s3", id: "aws", bucket: "b", accessKeyId: "k" },
      /^remotes\[0\]\.secretAccessKey: required when accessKeyId is set/,
    ],
    [
      (d) =>
        d.remotes[0] = {
          kind: "b2",
          id: "aws",
          bucket: "b",
          region: "us-west",
        },
      /^remotes\[0\]\.region: not a B2 region: "us-west"; expected e\.g\. "us-west-004"/,
    ],
    [
      (d) =>
        d.remotes[0] = {
          kind: "r2",
          id: "aws",
          bucket: "b",
          accountId: "acct",
        },
      /^remotes\[0\]\.accountId: not a Cloudflare account id/,
    ],
    [
      (d) =>
        d.remotes[0] = {
          kind: "s3",
          id: "aws",
          bucket: "b",
          verifyTls: false,
          caBundle: "/ca.pem",
        },
      /^remotes\[0\]\.caBundle: has no effect with verifyTls: false/,
    ],
    [
      (d) =>
        d.remotes[0] = { kind: "s3", id: "aws", bucket: "b", partSizeMiB: 1 },
      /^remotes\[0\]\.partSizeMiB: must be an integer from 5 to 5120/,
    ],
    [
      (d) =>
        d.sources[0].upload[0].pipe = [{
          kind: "cmd",
          argv: ["xz"],
          suffix: "seqn1",
        }],
      /^sources\[0\]\.upload\[0\]\.pipe\[0\]\.suffix: bad key suffix "seqn1"/,
    ],
    [
      (d) =>
        d.sources[0].upload[0].pipe = [{
          kind: "age",
          recipients: ["AGE-SECRET-KEY-1XYZ"],
        }],
      /^sources\[0\]\.upload\[0\]\.pipe\[0\]\.recipients\[0\]: not an age recipient/,
    ],
    [
      (d) => d.sources[0].upload.push({ remote: "aws", preserve: "1d" }),
      /^sources\[0\]\.upload\[2\]\.remote: this source already uploads to remote "aws"/,
    ],
  ];
  for (const [breakIt, pattern] of cases) {
    const data = base();
    breakIt(data);
    assert.match(onlyProblem(data), pattern);
  }
});

Deno.test("several problems give one line each", () => {
  const data = base() as Record<string, unknown> & ConfigInput;
  data.timezone = "Nowhere/City";
  data.sources[0].upload[0].remote = "aws2";
  data.extra = 1;
  assert.throws(() => validateConfig(data), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.message.split("\n").map((l) => l.split(":")[0]), [
      "timezone",
      "extra",
      "sources[0].upload[0].remote",
    ]);
    return true;
  });
});

Deno.test("a config module without a default export is an error saying how to write one", async () => {
  const file = fixture("no_default.ts");
  await rejectsWith(
    loadConfig(file),
    new RegExp(
      `^${file}: has no default export; end it with export default defineConfig\\(\\{\\.\\.\\.\\}\\)$`,
    ),
  );
});

Deno.test("errors in a config module start with its path, one line per problem", async () => {
  const file = fixture("invalid.js");
  await assert.rejects(loadConfig(file), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, file);
    const lines = e.message.split("\n");
    assert.equal(lines.length, 2);
    assert.ok(
      lines[0].startsWith(
        `${file}: sources[0].upload[0].preserve: bad policy token "1Y"`,
      ),
      lines[0],
    );
    assert.equal(
      lines[1],
      `${file}: sources[0].upload[0].remote: unknown remote id "aws2"; defined: aws`,
    );
    return true;
  });
});

Deno.test("a missing config file or an unknown extension is an error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejectsWith(
      loadConfig(`${dir}/nope.ts`),
      new RegExp(`^${dir}/nope.ts: cannot read the config file`),
    );
    await rejectsWith(
      loadConfig(`${dir}/nope.yaml`),
      new RegExp(`^${dir}/nope.yaml: cannot read the config file`),
    );
    await Deno.writeTextFile(`${dir}/config.toml`, "");
    await rejectsWith(
      loadConfig(`${dir}/config.toml`),
      new RegExp(
        `^${dir}/config\\.toml: unknown config file type "\\.toml"; use \\.ts`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a changed config module is loaded anew", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/snap2s3.config.ts`;
    const write = (id: string) =>
      Deno.writeTextFile(
        file,
        `export default { timezone: "UTC", sources: [], remotes: [{ kind: "local", id: "${id}", path: "/x" }] };`,
      );
    await write("first");
    assert.equal((await loadConfig(file)).remotes[0].id, "first");
    await write("second");
    await Deno.utime(file, new Date(), new Date(Date.now() + 5000));
    assert.equal((await loadConfig(file)).remotes[0].id, "second");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the same source spelt twice is one error, by resolved path", () => {
  const data = base();
  data.sources.push({ ...data.sources[0], path: "/data/" });
  assert.equal(
    onlyProblem(data),
    `sources[1].path: source "/data/" is the same path as sources[0]; list each subvolume once, with several uploads if needed`,
  );
  data.sources[1].path = "/data/./";
  assert.match(onlyProblem(data), /^sources\[1\]\.path: .* same path/);
});

Deno.test("two remotes at the same place, or one inside the other, are refused", () => {
  const local = base();
  local.remotes.push({ kind: "local", id: "usb2", path: "/mnt/usb/" });
  assert.match(
    onlyProblem(local),
    /^remotes\[2\]\.path: directory "\/mnt\/usb\/" is the same place as remotes\[1\] \("local", directory "\/mnt\/usb"\): .*give every remote its own directory/,
  );
  local.remotes[2] = { kind: "local", id: "usb2", path: "/mnt/usb/old" };
  assert.match(
    onlyProblem(local),
    /^remotes\[2\]\.path: .* overlaps remotes\[1\]/,
  );
  local.remotes[2] = { kind: "local", id: "usb2", path: "/mnt/usb2" };
  validateConfig(local);

  const s3 = base();
  s3.remotes = [
    { kind: "s3", id: "a", bucket: "b", endpoint: "https://rgw.example/" },
    { kind: "s3", id: "c", bucket: "b", endpoint: "http://RGW.example" },
  ];
  s3.sources[0].upload = [{ remote: "a", preserve: "1d" }];
  assert.match(
    onlyProblem(s3),
    /^remotes\[1\]\.prefix: bucket "b" is the same place as remotes\[0\] \("a", bucket "b"\)/,
  );
  s3.remotes[1] = {
    ...s3.remotes[1],
    prefix: "laptop/",
  } as typeof s3.remotes[1];
  assert.match(
    onlyProblem(s3),
    /^remotes\[1\]\.prefix: .* overlaps remotes\[0\]/,
  );
  s3.remotes[0] = {
    ...s3.remotes[0],
    prefix: "desktop/",
  } as typeof s3.remotes[0];
  validateConfig(s3);
  s3.remotes[1] = {
    ...s3.remotes[1],
    bucket: "other",
    prefix: "desktop/",
  } as typeof s3.remotes[1];
  validateConfig(s3);

  // Without an endpoint it is AWS, whatever the region: bucket names are global.
  const aws = base();
  aws.remotes.push({
    kind: "s3",
    id: "aws2",
    bucket: "backups",
    region: "eu-west-1",
  });
  assert.match(
    onlyProblem(aws),
    /^remotes\[2\]\.prefix: .* same place as remotes\[0\]/,
  );
});

Deno.test("a source name with a key metadata code in a dot-part is refused at validation", () => {
  const data = base();
  data.sources[0].path = "/srv/web.seqnX";
  assert.equal(
    onlyProblem(data),
    `sources[0].path: the name "web.seqnX" has a dot-part ".seqnX" that starts with the key metadata code "seqn", which backup keys use for their own fields; back up a subvolume whose last path part is a plain short name, e.g. /data/web`,
  );
  data.sources[0].path = "/srv/web.data";
  validateConfig(data);
  data.sources[0].path = "/srv/.hidden";
  assert.match(onlyProblem(data), /starts with a dot/);
  data.sources[0].path = "/";
  assert.match(onlyProblem(data), /^sources\[0\]\.path: "\/" has no name/);
});

Deno.test("a source name that makes a key or snapshot name over the limit is refused with the limit", () => {
  const data = base();
  data.sources[0].upload = [{ remote: "aws", preserve: "1d" }];
  data.remotes = [{
    kind: "s3",
    id: "aws",
    bucket: "b",
    prefix: "p".repeat(700),
  }];
  data.sources[0].path = `/srv/${"n".repeat(120)}`;
  assert.match(
    onlyProblem(data),
    /^sources\[0\]\.upload\[0\]: the name "n{32}…" \(120 bytes\) makes S3 keys in remote "aws" \(prefix included\) of up to 10\d\d bytes, over the limit of 1024 bytes; .*shorter prefix$/,
  );
  data.remotes = [{ kind: "s3", id: "aws", bucket: "b" }];
  validateConfig(data);

  data.sources[0].path = `/srv/${"é".repeat(110)}`; // 220 bytes
  assert.match(
    onlyProblem(data),
    /^sources\[0\]\.path: .* makes snapshot names of up to 2\d\d bytes, over the limit of 255 bytes for a file name/,
  );

  // A local remote's file names are limited to 255 bytes.
  data.sources[0].path = `/srv/${"n".repeat(80)}`;
  data.sources[0].upload = [{ remote: "usb", preserve: "1d" }];
  data.remotes = [{ kind: "local", id: "usb", path: "/mnt/usb" }];
  assert.match(
    onlyProblem(data),
    /^sources\[0\]\.upload\[0\]: .* makes file names in local remote "usb" of up to \d+ bytes, over the limit of 255 bytes/,
  );
  data.sources[0].path = "/srv/web";
  validateConfig(data);
});

Deno.test("credential values are never shown in errors", () => {
  const data = base() as unknown as { remotes: Record<string, unknown>[] };
  data.remotes[0].accessKeyId = 4242424242;
  data.remotes[0].secretAccessKey = 987654321987;
  let message = "";
  try {
    validateConfig(data);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(
    message,
    /^remotes\[0\]\.accessKeyId: expected a string, got a number \(value not shown: it is a credential\)$/m,
  );
  assert.match(
    message,
    /^remotes\[0\]\.secretAccessKey: expected a string, got a number/m,
  );
  assert.doesNotMatch(message, /4242424242|987654321987/);
});

Deno.test("a config module over 1 MiB, or not a regular file, is refused before it is imported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = `${dir}/big.ts`;
    // Importing this would throw; the size check must come first.
    await Deno.writeTextFile(
      big,
      `throw new Error("imported");\n//${"x".repeat(1024 * 1024)}\n`,
    );
    await rejectsWith(
      loadConfig(big),
      new RegExp(
        `^${dir}/big.ts: is larger than the limit of 1 MiB for a config file \\(\\d+ bytes\\)`,
      ),
    );
    await Deno.mkdir(`${dir}/d.ts`);
    await rejectsWith(
      loadConfig(`${dir}/d.ts`),
      /d\.ts: is not a regular file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a config module that does not parse is one line, without the source text", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.ts`;
    await Deno.writeTextFile(
      file,
      `export default {\n  secretAccessKey: "SUPERSECRET" oops,\n};\n`,
    );
    await assert.rejects(loadConfig(file), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message.split("\n").length, 1, e.message);
      assert.match(e.message, /cannot load the config module: .*bad\.ts:2:\d+/);
      assert.doesNotMatch(e.message, /SUPERSECRET/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the examples keep each snapshot directory outside its source", async () => {
  const dir = new URL("../examples/", import.meta.url);
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".ts")) continue;
    const mod = await import(new URL(e.name, dir).href);
    if (mod.default === undefined) continue;
    for (const s of validateConfig(mod.default).sources) {
      const inside = s.snapshots === s.path ||
        s.snapshots.startsWith(`${s.path}/`);
      assert.ok(!inside, `${e.name}: ${s.snapshots} is inside ${s.path}`);
    }
  }
});
