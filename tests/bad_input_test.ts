/**
 * Bad config input through the CLI: one line naming the field and the fix,
 * exit 2, and nothing created (the snapshot directory stays absent, the
 * remote empty).
 */
import assert from "node:assert/strict";
import { run } from "./fixtures/process.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

Deno.test("bad config input exits 2 through the CLI with one line and creates nothing", async (t) => {
  const dir = await Deno.makeTempDir();
  const snaps = `${dir}/snapshots`;
  const remote = `${dir}/remote`;
  await Deno.mkdir(remote);
  const source = (path: string) => ({
    kind: "btrfs",
    path,
    snapshots: snaps,
    upload: [{ remote: "usb", preserve: "1d" }],
  });
  const config = (over: Record<string, unknown>) => ({
    timezone: "UTC",
    sources: [source(`${dir}/data`)],
    remotes: [{ kind: "local", id: "usb", path: remote }],
    ...over,
  });
  const ts = (c: unknown) => `export default ${JSON.stringify(c)};\n`;
  const yaml = (extra: string) =>
    `timezone: UTC
sources:
  - path: ${dir}/data
    snapshots: ${snaps}
    upload_to_remotes:
      - id: main
        preserve: 1d
remotes:
  - id: main
    s3:
      bucket: b
      endpoint:
        endpoint_url: http://127.0.0.1:9
${extra}`;
  const cases: [string, string, string, RegExp][] = [
    [
      "a YAML alias",
      "alias.yaml",
      yaml("        region_name: &r us-east-1\n"),
      /^snap2s3: .*alias\.yaml: YAML anchor &r at line 14, column 22: anchors and aliases are not accepted in a config; write the value out in full$/,
    ],
    [
      "a YAML file over 1 MiB",
      "big.yaml",
      yaml(`#${"x".repeat(1024 * 1024)}\n`),
      /big\.yaml: is larger than the limit of 1 MiB for a config file/,
    ],
    [
      "a numeric secret, not echoed",
      "secret.yaml",
      yaml(
        "        aws_access_key_id: AKIAEXAMPLE\n        aws_secret_access_key: 271828182845\n",
      ),
      /remotes\[0\]\.s3\.endpoint\.aws_secret_access_key: expected a string, got a number \(value not shown: it is a credential\)$/,
    ],
    [
      "a source name with a metadata suffix",
      "seqn.ts",
      ts(config({ sources: [source(`${dir}/web.seqnX`)] })),
      /sources\[0\]\.path: the name "web\.seqnX" has a dot-part "\.seqnX" that starts with the key metadata code "seqn"/,
    ],
    [
      "a source name too long for a local remote's file names",
      "long.ts",
      ts(config({ sources: [source(`${dir}/${"n".repeat(100)}`)] })),
      /sources\[0\]\.upload\[0\]: .* over the limit of 255 bytes/,
    ],
    [
      "a source spelt twice",
      "twice.ts",
      ts(config({ sources: [source(`${dir}/data`), source(`${dir}/data/`)] })),
      /sources\[1\]\.path: .* is the same path as sources\[0\]/,
    ],
    [
      "two remotes in one directory",
      "remotes.ts",
      ts(config({
        remotes: [
          { kind: "local", id: "usb", path: remote },
          { kind: "local", id: "usb2", path: `${remote}/` },
        ],
      })),
      /remotes\[1\]\.path: .* is the same place as remotes\[0\]/,
    ],
  ];
  try {
    for (const [what, name, text, message] of cases) {
      await t.step(what, async () => {
        const file = `${dir}/${name}`;
        await Deno.writeTextFile(file, text);
        const r = await run(
          [Deno.execPath(), "run", "-A", CLI, "update", file, "--force"],
          { check: false, env: { NO_COLOR: "1" } },
        );
        assert.equal(r.code, 2, r.stdout + r.stderr);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], message);
        assert.doesNotMatch(r.stderr, /271828182845/);
        assert.equal(r.stdout, "");
        assert.deepEqual(
          (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
            .filter((n) => n !== name && !/\.(ts|yaml)$/.test(n)).sort(),
          ["remote"],
        );
        assert.deepEqual(await Array.fromAsync(Deno.readDir(remote)), []);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
