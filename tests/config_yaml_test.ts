import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../lib/app/config/load.ts";
import { ConfigError } from "../lib/app/config/error.ts";
import { parseBtrfs2s3Yaml } from "../lib/app/config/yaml.ts";
import { keySuffixes, stageInverseArgv } from "../lib/drivers/pipe/stages.ts";

const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/configs/${name}`, import.meta.url));

/** A valid btrfs2s3 config to break one line at a time. */
const BASE = `timezone: Europe/Paris
sources:
  - path: /srv/data
    snapshots: /srv/snapshots
    upload_to_remotes:
      - id: main
        preserve: 1y 3m 30d 24h
remotes:
  - id: main
    s3:
      bucket: data-backups
`;

/** Parses `yaml`, expecting exactly one problem; returns the message line. */
function onlyProblem(yaml: string): string {
  try {
    parseBtrfs2s3Yaml(yaml, "btrfs2s3.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.problems.length, 1, e.message);
    return e.message;
  }
  assert.fail("the config was accepted");
}

Deno.test("a btrfs2s3 YAML config and the equivalent TypeScript config give the same Config", async () => {
  const fromYaml = await loadConfig(fixture("btrfs2s3.yaml"));
  const fromTs = await loadConfig(fixture("btrfs2s3_equivalent.ts"));
  assert.deepEqual(fromYaml, fromTs);
  // Spot checks that the mapping did what the equivalence claims.
  const [offsite, nas] = fromYaml.remotes;
  assert.ok(offsite.kind === "s3" && nas.kind === "s3");
  assert.equal(offsite.caBundle, "/etc/ssl/certs/ca-certificates.crt");
  assert.equal(offsite.verifyTls, true);
  assert.equal(nas.verifyTls, false, "`verify: no` is false in YAML 1.1");
  assert.equal(offsite.accessKeyId, "AKIAEXAMPLEKEY");
});

Deno.test("the minimal btrfs2s3 config loads with defaults", async () => {
  assert.deepEqual(await loadConfig(fixture("btrfs2s3_minimal.yml")), {
    timezone: "UTC",
    sources: [{
      kind: "btrfs",
      path: "/mnt/pool/data",
      snapshots: "/mnt/pool/snapshots",
      upload: [{ remote: "bucket", preserve: "1y 3m 30d 24h", pipe: [] }],
    }],
    remotes: [{
      kind: "s3",
      id: "bucket",
      bucket: "my-backups",
      verifyTls: true,
    }],
  });
});

Deno.test("pipe_through becomes suffix-less command stages that restore can still undo when recognisable", async () => {
  const config = await loadConfig(fixture("btrfs2s3.yaml"));
  const pipe = config.sources[0].upload[0].pipe;
  assert.deepEqual(pipe, [
    { kind: "cmd", argv: ["zstd", "-T0", "-9"] },
    {
      kind: "cmd",
      argv: [
        "age",
        "-r",
        "age13xstt9tjpnyruqag580erpwhy2hswsdx32reu44luypx7l4uxyrqs9pgun",
      ],
    },
  ]);
  assert.deepEqual(keySuffixes(pipe), [], "btrfs2s3 adds no suffix to keys");
  assert.deepEqual(stageInverseArgv(pipe[0]), ["zstd", "-q", "-d", "-c"]);
  assert.deepEqual(
    stageInverseArgv(pipe[1], { ageIdentityFile: "/root/age.key" }),
    ["age", "--decrypt", "--identity", "/root/age.key"],
  );
});

Deno.test("verify may be true, false, yes/no or a CA bundle path, relative to the working directory", () => {
  const withVerify = (v: string) => {
    const remote = parseBtrfs2s3Yaml(
      `${BASE}      endpoint:\n        verify: ${v}\n`,
    ).remotes[0];
    assert.ok(remote.kind === "s3");
    return remote;
  };
  assert.deepEqual(withVerify("true"), withVerify("yes"));
  assert.equal(withVerify("true").verifyTls, true);
  assert.equal(withVerify("false").verifyTls, false);
  assert.equal(withVerify("off").verifyTls, false);
  const relative = withVerify("certs/ca.pem");
  assert.equal(relative.caBundle, `${Deno.cwd()}/certs/ca.pem`);
  assert.equal(relative.verifyTls, true);
});

Deno.test("btrfs2s3's api_version is accepted and changes nothing", () => {
  const plain = parseBtrfs2s3Yaml(BASE);
  const pinned = parseBtrfs2s3Yaml(
    `${BASE}      endpoint:\n        api_version: 2006-03-01\n`,
  );
  assert.deepEqual(pinned, plain);
});

Deno.test("`y` and `n` stay strings as in PyYAML, so a remote may be called y", () => {
  const config = parseBtrfs2s3Yaml(
    BASE.replaceAll("id: main", "id: y"),
  );
  assert.equal(config.remotes[0].id, "y");
});

Deno.test("an unknown remote id in YAML is reported at upload_to_remotes[].id", () => {
  assert.equal(
    onlyProblem(BASE.replace("      - id: main", "      - id: mian")),
    `btrfs2s3.yaml: sources[0].upload_to_remotes[0].id: unknown remote id "mian"; defined: main`,
  );
});

Deno.test("a bad policy in YAML is reported at its YAML path", () => {
  assert.match(
    onlyProblem(BASE.replace("1y 3m 30d 24h", "1y 3M 30d")),
    /^btrfs2s3\.yaml: sources\[0\]\.upload_to_remotes\[0\]\.preserve: bad policy token "30d": .*out of order/,
  );
});

Deno.test("an unknown YAML field is reported with the right spelling", () => {
  assert.match(
    onlyProblem(`${BASE}      endpoint:\n        region: eu-west-3\n`),
    /^btrfs2s3\.yaml: remotes\[0\]\.s3\.endpoint\.region: unknown field \(did you mean "region_name"\?\); allowed: profile_name, region_name, /,
  );
  assert.throws(
    () =>
      parseBtrfs2s3Yaml(BASE.replace("upload_to_remotes", "upload_to_remote")),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.message.split("\n"), [
        "sources[0].upload_to_remotes: required (a list)",
        `sources[0].upload_to_remote: unknown field (did you mean "upload_to_remotes"?); allowed: path, snapshots, upload_to_remotes`,
      ]);
      return true;
    },
  );
});

Deno.test("YAML errors from the common checks name the YAML field, not the snap2s3 one", () => {
  const cases: [string, string][] = [
    [
      BASE.replace("bucket: data-backups", "bucket: 12"),
      "btrfs2s3.yaml: remotes[0].s3.bucket: expected a string, got number 12",
    ],
    [
      BASE.replace("bucket: data-backups\n", ""),
      "btrfs2s3.yaml: remotes[0].s3: expected an object, got null",
    ],
    [
      BASE.replace(
        "      bucket: data-backups\n",
        "      bucket: b\n      endpoint:\n        endpoint_url: minio:9000\n",
      ),
      `btrfs2s3.yaml: remotes[0].s3.endpoint.endpoint_url: not an http(s) URL: "minio:9000"; write the full URL, e.g. "https://s3.example.com"`,
    ],
    [
      `${BASE}      endpoint:\n        aws_access_key_id: AKIA\n`,
      "btrfs2s3.yaml: remotes[0].s3.endpoint.aws_secret_access_key: required when accessKeyId is set: give both keys, or neither (then the profile or the AWS_* environment is used)",
    ],
    [
      `${BASE}  - id: main\n    s3:\n      bucket: other\n`,
      `btrfs2s3.yaml: remotes[1].id: duplicate remote id "main" (also remotes[0]); give every remote its own id`,
    ],
    [
      BASE.replace(
        "preserve: 1y 3m 30d 24h",
        "preserve: 1y\n        pipe_through: [zstd]",
      ),
      `btrfs2s3.yaml: sources[0].upload_to_remotes[0].pipe_through[0]: expected a list, got the string "zstd"`,
    ],
    [
      BASE.replace(
        "preserve: 1y 3m 30d 24h",
        "preserve: 1y\n        pipe_through: [[]]",
      ),
      "btrfs2s3.yaml: sources[0].upload_to_remotes[0].pipe_through[0]: must not be empty: give the program and its arguments (the command)",
    ],
    [
      BASE.replace("snapshots: /srv/snapshots", "snapshots: snapshots"),
      `btrfs2s3.yaml: sources[0].snapshots: must be an absolute path (the snapshot directory), got "snapshots"`,
    ],
    [
      BASE.replace("timezone: Europe/Paris\n", ""),
      `btrfs2s3.yaml: timezone: required: the IANA time zone policy intervals are computed in, e.g. "Europe/Berlin" or "UTC" (the system zone is never used)`,
    ],
  ];
  for (const [yaml, expected] of cases) {
    assert.equal(onlyProblem(yaml), expected);
  }
});

Deno.test("a YAML syntax error names the file, line and column", () => {
  assert.match(
    onlyProblem("timezone: UTC\n  sources: [\n"),
    /^btrfs2s3\.yaml: not valid YAML at line 2, column \d+: /,
  );
  assert.match(
    onlyProblem(`${BASE}timezone: UTC\n`),
    /^btrfs2s3\.yaml: not valid YAML at line \d+, column \d+: duplicated mapping key/,
  );
});

Deno.test("errors from a YAML file start with its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/btrfs2s3.yaml`;
    await Deno.writeTextFile(
      file,
      BASE.replace("Europe/Paris", "Europe/Pariss"),
    );
    await assert.rejects(loadConfig(file), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(
        e.message.startsWith(
          `${file}: timezone: unknown time zone "Europe/Pariss"`,
        ),
        e.message,
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("YAML anchors and aliases are refused with their place, quoted & and * are not", () => {
  assert.equal(
    onlyProblem(
      BASE.replace("bucket: data-backups", "bucket: &b data-backups"),
    ),
    "btrfs2s3.yaml: YAML anchor &b at line 11, column 15: anchors and aliases are not accepted in a config; write the value out in full",
  );
  assert.match(
    onlyProblem(BASE.replace("preserve: 1y 3m 30d 24h", "preserve: *p")),
    /^btrfs2s3\.yaml: YAML alias \*p at line 7, column 19: anchors and aliases/,
  );
  const quoted = parseBtrfs2s3Yaml(
    BASE.replace("/srv/data", `"/srv/a&b*c"`).replace(
      "/srv/snapshots",
      `'/srv/&s'`,
    ),
  );
  assert.equal(quoted.sources[0].path, "/srv/a&b*c");
});

Deno.test("an 88 KB alias bomb is refused at once, before anything is expanded", () => {
  let bomb =
    `a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n`;
  for (let i = 0, prev = "a"; bomb.length < 88_000; i++, prev = `n${i - 1}`) {
    bomb += `n${i}: &n${i} [${Array(9).fill(`*${prev}`).join(", ")}]\n`;
  }
  const t0 = performance.now();
  assert.match(onlyProblem(bomb), /YAML anchor &a at line 1, column 4/);
  assert.ok(performance.now() - t0 < 2000);
});

Deno.test("a YAML config over 1 MiB is refused, as text and as a file", async () => {
  const big = BASE + `#${"x".repeat(1024 * 1024)}\n`;
  assert.match(onlyProblem(big), /is larger than the limit of 1 MiB/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/big.yaml`, big);
    await assert.rejects(
      loadConfig(`${dir}/big.yaml`),
      (e: unknown) =>
        e instanceof ConfigError &&
        new RegExp(
          `^${dir}/big.yaml: is larger than the limit of 1 MiB for a config file \\(\\d+ bytes\\)`,
        ).test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a numeric secret in YAML is not echoed", () => {
  const message = onlyProblem(
    BASE.replace(
      "bucket: data-backups",
      "bucket: data-backups\n      endpoint:\n        aws_access_key_id: AKIAEXAMPLE\n        aws_secret_access_key: 31415926535",
    ),
  );
  assert.match(
    message,
    /remotes\[0\]\.s3\.endpoint\.aws_secret_access_key: expected a string, got a number \(value not shown/,
  );
  assert.doesNotMatch(message, /31415926535/);
});

Deno.test("an empty YAML file or several documents are refused", () => {
  assert.match(onlyProblem(""), /is empty/);
  assert.match(onlyProblem(`${BASE}---\n${BASE}`), /holds 2 YAML documents/);
});
