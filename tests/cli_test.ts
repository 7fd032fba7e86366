/**
 * The command line as a user meets it: bad configs, confirmation, --pretend,
 * list-backups, exit codes. Real btrfs and a local-directory remote.
 */
import assert from "node:assert/strict";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { main } from "../cli.ts";
import { encodeKey } from "../mod.ts";
import { COMMANDS } from "../lib/app/cli/commands_table.ts";
import { HANDLERS } from "../lib/app/cli/handlers.ts";
import { logTime, memoryOutput, modeOutput } from "../lib/app/output.ts";
import { describeRetry } from "../lib/app/remotes.ts";
import { startS3Server } from "./fixtures/s3_server.ts";
import denoJson from "../deno.json" with { type: "json" };

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-env",
  "--allow-sys",
];

function cli(args: string[], flags = FLAGS) {
  return run([Deno.execPath(), "run", ...flags, CLI, ...args], {
    check: false,
    env: { NO_COLOR: "1" },
  });
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

Deno.test({
  name: "the CLI: bad configs, confirmation, --pretend, --force, list-backups",
  ignore: skipUnlessRoot(),
  fn: async (t) => {
    await using fs = await createBtrfs({ sizeMiB: 512 });
    const data = `${fs.mountPoint}/data`;
    const snaps = `${fs.mountPoint}/snapshots`;
    const remote = `${fs.mountPoint}/remote`;
    await run(["btrfs", "subvolume", "create", data]);
    await Deno.mkdir(remote);
    await Deno.writeTextFile(`${data}/hello.txt`, "hello\n");
    const dir = await Deno.makeTempDir();
    const good = {
      timezone: "UTC",
      remotes: [{ kind: "local", id: "usb", path: remote }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: snaps,
        upload: [{ remote: "usb", preserve: "1y 1d" }],
      }],
    };
    const write = async (name: string, config: unknown) => {
      const path = `${dir}/${name}.ts`;
      await Deno.writeTextFile(
        path,
        `export default ${JSON.stringify(config, null, 2)};\n`,
      );
      return path;
    };
    try {
      const bad: [string, unknown, RegExp][] = [
        ["unknown field", { ...good, retention: "1y" }, /retention/],
        [
          "wrong type",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "usb", preserve: 5 }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.preserve/,
        ],
        [
          "bad policy",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "usb", preserve: "1y 1Y" }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.preserve.*1Y/,
        ],
        [
          "unknown remote id",
          {
            ...good,
            sources: [{
              ...good.sources[0],
              upload: [{ remote: "aws", preserve: "1y" }],
            }],
          },
          /sources\[0\]\.upload\[0\]\.remote.*aws/,
        ],
        ["missing timezone", { ...good, timezone: undefined }, /timezone/],
      ];
      for (const [what, config, message] of bad) {
        await t.step(
          `a config with ${what} gives one clear error and changes nothing`,
          async () => {
            const r = await cli([
              "update",
              "--force",
              await write(what.replaceAll(" ", "_"), config),
            ]);
            assert.equal(r.code, 2, r.stderr);
            assert.match(r.stderr, message);
            assert.equal(
              r.stderr.trim().split("\n").filter((l) =>
                l.startsWith("snap2s3:")
              ).length,
              1,
              r.stderr,
            );
            assert.deepEqual(await entries(snaps), []);
            assert.deepEqual(await entries(remote), []);
          },
        );
      }
      const path = await write("good", good);
      await t.step(
        "without a terminal and without --force, update refuses and changes nothing",
        async () => {
          const r = await cli(["update", path]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /--force/);
          assert.match(r.stdout, /create snapshot/);
          assert.deepEqual(await entries(snaps), []);
        },
      );
      await t.step(
        "on a terminal, update asks continue? and does nothing on no",
        async () => {
          // `script` gives the CLI a pseudo-terminal; we answer "n".
          const line = [Deno.execPath(), "run", ...FLAGS, CLI, "update", path]
            .map((a) => `'${a}'`).join(" ");
          const r = await run(["script", "-qec", line, "/dev/null"], {
            check: false,
            stdin: "n\n",
          });
          assert.match(r.stdout, /continue\?/);
          assert.match(r.stdout, /not confirmed/);
          assert.equal(r.code, 1);
          assert.deepEqual(await entries(snaps), []);
        },
      );
      await t.step(
        "--pretend prints the plan and changes nothing",
        async () => {
          const r = await cli(["update", "--pretend", path]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /upload/);
          assert.deepEqual(await entries(snaps), []);
          assert.deepEqual(await entries(remote), []);
        },
      );
      await t.step(
        "--force carries the plan out; a second run does nothing; list-backups shows the tree",
        async () => {
          const r = await cli(["update", "--force", path]);
          assert.equal(r.code, 0, r.stderr);
          // Without a terminal every action line is timestamped.
          assert.match(
            r.stdout,
            /^\d{4}-\d\d-\d\dT[\d:.]+Z created snapshot /m,
          );
          assert.equal((await entries(snaps)).length, 1);
          const again = await cli(["update", "--force", path]);
          assert.match(again.stdout, /nothing to do/);
          const list = await cli(["list-backups", path, "usb", "--json"]);
          assert.equal(list.code, 0, list.stderr);
          const listing = JSON.parse(list.stdout);
          assert.equal(listing.sources[0].backups.length, 1);
          assert.equal(listing.sources[0].backups[0].parent, null);
          const text = await cli(["list-backups", path, "usb"]);
          assert.match(text.stdout, /1 backup\(s\), 1 full/);
        },
      );
      await t.step(
        "update --force --json prints one JSON object on stdout and the log on stderr, by short names",
        async () => {
          await Deno.writeTextFile(`${data}/more.txt`, "more\n");
          const r = await cli(["update", "--force", "--json", path]);
          assert.equal(r.code, 0, r.stderr);
          const j = JSON.parse(r.stdout);
          assert.equal(j.command, "update");
          assert.equal(j.ok, true);
          assert.equal(j.exitCode, 0);
          assert.equal(j.executed, true);
          assert.equal(j.error, null);
          assert.equal(j.created.length, 1);
          assert.match(j.created[0], /^data\.\d{4}-\d\d-\d\dT/);
          assert.ok(j.uploaded.length >= 1);
          assert.ok(j.bytesUploaded > 0);
          assert.equal(j.bytesUploaded, j.uploaded[0].bytes);
          assert.equal(typeof j.durationMs, "number");
          assert.equal(j.planned.uploads, j.uploaded.length);
          assert.match(r.stderr, /created snapshot data\.\S+$/m);
          assert.match(r.stderr, /uploading data\.\S+ to usb \(/);
          // Without --verbose the 200-character key and full paths stay out of the log lines.
          const log = r.stderr.split("\n").filter((l) =>
            /^\d{4}-\d\d-\d\dT\S+ /.test(l)
          );
          assert.ok(log.length >= 3, r.stderr);
          for (const l of log) {
            assert.ok(!l.includes(j.uploaded[0].key), l);
            assert.ok(!l.includes(snaps), l);
          }
        },
      );
      await t.step(
        "update --quiet prints nothing on an idle run; --verbose names the key",
        async () => {
          const idle = await cli(["update", "--force", "--quiet", path]);
          assert.equal(idle.code, 0, idle.stderr);
          assert.equal(idle.stdout, "");
          assert.equal(idle.stderr, "");
          await Deno.writeTextFile(`${data}/again.txt`, "again\n");
          const v = await cli(["update", "--force", "--verbose", path]);
          assert.equal(v.code, 0, v.stderr);
          const uploaded = (await cli(["list-backups", path, "usb", "--json"]))
            .stdout;
          const keys = JSON.parse(uploaded).sources[0].backups.map((
            b: { key: string },
          ) => b.key);
          assert.ok(
            keys.some((k: string) => v.stdout.includes(`key ${k}`)),
            v.stdout,
          );
          assert.match(v.stdout, /uploaded data\.\S+: .* sha256 [0-9a-f]{64}/);
        },
      );
      await t.step(
        "restore --json prints one JSON object with what was received",
        async () => {
          const dest = `${fs.mountPoint}/restored`;
          await Deno.mkdir(dest);
          const r = await cli(["restore", path, dest, "usb", "--json"]);
          assert.equal(r.code, 0, r.stderr);
          const j = JSON.parse(r.stdout);
          assert.equal(j.command, "restore");
          assert.equal(j.ok, true);
          assert.ok(j.received.length >= 1);
          assert.equal(
            j.bytes,
            j.received.reduce(
              (n: number, b: { bytes: number }) => n + b.bytes,
              0,
            ),
          );
          assert.ok(j.received.every((b: { verified: boolean }) => b.verified));
          assert.match(r.stderr, /receiving data\.\S+ from usb \(full\)/);
          const again = await cli(["restore", path, dest, "usb", "--quiet"]);
          assert.equal(again.code, 0, again.stderr);
          assert.equal(again.stdout + again.stderr, "");
        },
      );
      await t.step(
        "an incomplete backup in the remote is warned about once",
        async () => {
          const key = encodeKey({
            name: "data",
            ctime: Temporal.Instant.from("2020-01-01T00:00:00Z"),
            ctransid: 1,
            uuid: crypto.randomUUID(),
            sendParentUuid: null,
            sourceUuid: crypto.randomUUID(),
            seqn: 1,
            suffixes: [],
          }, "UTC");
          await Deno.writeTextFile(`${remote}/${key}`, "half a backup");
          try {
            const r = await cli(["update", "--pretend", path]);
            assert.equal(r.code, 0, r.stderr);
            const warned = r.stderr.split("\n").filter((l) => l.includes(key));
            assert.equal(warned.length, 1, r.stderr);
            assert.match(warned[0], /^warning: usb: incomplete backup /);
          } finally {
            await Deno.remove(`${remote}/${key}`);
          }
        },
      );
      await t.step(
        "a missing permission gives a one-line hint naming the flag",
        async () => {
          const r = await cli(
            ["update", "--pretend", path],
            FLAGS.filter((f) => f !== "--allow-ffi"),
          );
          assert.equal(r.code, 2);
          assert.match(r.stderr, /--allow-ffi/);
        },
      );
      await t.step(
        "an unknown command and a missing argument are usage errors",
        async () => {
          assert.equal((await cli(["frobnicate"])).code, 2);
          const r = await cli(["restore", path]);
          assert.equal(r.code, 2);
          assert.match(r.stderr, /<dest>/);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Runs the CLI in this process; stdout and stderr as text. */
async function inProcess(args: string[]) {
  const out = memoryOutput();
  const code = await main(args, out);
  return { code, stdout: out.stdout.join("\n"), stderr: out.stderr.join("\n") };
}

Deno.test("--version and version print the package version", async () => {
  for (const args of [["--version"], ["version"]]) {
    const r = await inProcess(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `snap2s3 ${denoJson.version}`);
  }
});

Deno.test("every command has a handler or is answered by the parser", () => {
  for (const c of COMMANDS) {
    assert.ok(
      c.name in HANDLERS || c.name === "help" || c.name === "version",
      c.name,
    );
  }
});

Deno.test("<command> --help and help <command> list that command's flags and an example, exit 0", async () => {
  for (const c of COMMANDS) {
    const r = await inProcess([c.name, "--help"]);
    assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: snap2s3 ${c.name}`));
    for (const f of c.flags) assert.ok(r.stdout.includes(`--${f.name}`));
    assert.match(r.stdout, /--help/);
    assert.match(r.stdout, new RegExp(`examples?:\n  snap2s3 ${c.name}`));
    assert.match(r.stdout, /exit codes:/);
    const h = await inProcess(["help", c.name]);
    assert.equal(h.code, 0);
    assert.equal(h.stdout, r.stdout);
  }
  const global = await inProcess(["--help"]);
  assert.equal(global.code, 0);
  for (const c of COMMANDS) assert.ok(global.stdout.includes(c.name));
});

Deno.test("a misspelt command or flag gets a did-you-mean and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["updat"], /unknown command "updat" \(did you mean update\?\)/],
    [["lsit-backups"], /did you mean list-backups\?/],
    [
      ["update", "--forse", "p.ts"],
      /unknown flag --forse \(did you mean --force\?\)/,
    ],
    [["restore", "--no-verfy"], /did you mean --no-verify\?/],
    [["help", "simulat"], /did you mean simulate\?/],
    [["--verison"], /did you mean --version\?/],
  ];
  for (const [args, message] of cases) {
    const r = await inProcess(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  }
  const far = await inProcess(["frobnicate"]);
  assert.equal(far.code, 2);
  assert.doesNotMatch(far.stderr, /did you mean/);
});

Deno.test("bad arguments exit 2 with one plain line naming the fix", async () => {
  const cases: [string[], RegExp][] = [
    [["update", "--help=yes"], /--help takes no value/],
    [["update", "--bogus", "p.ts"], /unknown flag --bogus/],
    [
      ["update", "a.ts", "b.ts"],
      /unexpected argument "b.ts"; it takes <config>/,
    ],
    [["update"], /missing <config>/],
    [["simulate", "--policy"], /--policy needs a value: --policy POLICY/],
    [
      ["simulate", "--json", "x"],
      /unexpected argument "x"; it takes flags only/,
    ],
    [
      ["restore", "c.ts", "d", "r", "--pipe-through"],
      /--pipe-through needs a value/,
    ],
    [
      ["list-backups", "c.ts", "r", "--json", "--json=1"],
      /--json takes no value/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await inProcess(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /see snap2s3 [a-z-]+ --help$/);
    assert.doesNotMatch(r.stderr, /positional|ERR_PARSE|To specify/);
  }
});

Deno.test("an unknown remote id is bad input: list-backups and restore exit 2, naming the ids", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/policy.ts`;
    await Deno.mkdir(`${dir}/remote`);
    await Deno.writeTextFile(
      config,
      `export default ${
        JSON.stringify({
          timezone: "UTC",
          remotes: [{ kind: "local", id: "usb", path: `${dir}/remote` }],
          sources: [{
            kind: "btrfs",
            path: `${dir}/data`,
            snapshots: `${dir}/snaps`,
            upload: [{ remote: "usb", preserve: "1d" }],
          }],
        })
      };\n`,
    );
    for (
      const args of [
        ["list-backups", config, "aws"],
        ["restore", config, `${dir}/dest`, "aws"],
      ]
    ) {
      const r = await inProcess(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /unknown remote "aws"; the config defines: usb/);
    }
    const close = await inProcess(["list-backups", config, "ub"]);
    assert.equal(close.code, 2);
    assert.match(close.stderr, /did you mean usb\?/);
    assert.deepEqual(await entries(`${dir}/remote`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a local remote directory that is not there is bad input: list-backups, verify, cat, restore and status exit 2 naming the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gone = `${dir}/usb`;
    const config = `${dir}/policy.ts`;
    await Deno.writeTextFile(
      config,
      `export default ${
        JSON.stringify({
          timezone: "UTC",
          remotes: [{ kind: "local", id: "usb", path: gone }],
          sources: [{
            kind: "btrfs",
            path: `${dir}/data`,
            snapshots: `${dir}/snaps`,
            upload: [{ remote: "usb", preserve: "1d" }],
          }],
        })
      };\n`,
    );
    const withConfig = [
      ["list-backups", config, "usb"],
      ["verify", config, "usb"],
      ["cat", config, "usb", "0f3c9a2e"],
      ["restore", config, `${dir}/dest`, "usb"],
      ["status", config],
    ];
    for (const args of withConfig) {
      const r = await inProcess(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      const lines = r.stderr.split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        /directory .*\/usb does not exist.*is the disk mounted\?.*remotes\[0\]\.path/,
      );
    }
    const withFlags = [
      ["list-backups", "--local", gone],
      ["verify", "--local", gone],
      ["cat", "--local", gone, "0f3c9a2e"],
      ["restore", "--local", gone, `${dir}/dest`],
    ];
    for (const args of withFlags) {
      const r = await inProcess(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      const lines = r.stderr.split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        /--local .*\/usb: the directory does not exist.*is the disk mounted\?/,
      );
    }
    assert.deepEqual(await entries(dir), ["policy.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "a bucket that does not exist or a wrong secret key is bad input: exit 2, one line naming the fix, without the SDK's UnknownError",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using server = await startS3Server();
    const bucket = await server.createBucket();
    const dir = await Deno.makeTempDir();
    try {
      const policy = async (name: string, over: Record<string, unknown>) => {
        const file = `${dir}/${name}.ts`;
        await Deno.writeTextFile(
          file,
          `export default ${
            JSON.stringify({
              timezone: "UTC",
              remotes: [{
                kind: "s3",
                id: "ceph",
                bucket,
                endpoint: server.endpoint,
                region: server.region,
                accessKeyId: server.accessKeyId,
                secretAccessKey: server.secretAccessKey,
                ...over,
              }],
              sources: [{
                kind: "btrfs",
                path: `${dir}/data`,
                snapshots: `${dir}/snaps`,
                upload: [{ remote: "ceph", preserve: "1d" }],
              }],
            })
          };\n`,
        );
        return file;
      };
      const cases: [string, RegExp][] = [
        [
          await policy("nobucket", { bucket: `${bucket}-missing` }),
          /NoSuchBucket .*the bucket does not exist: create it, or fix the bucket name/,
        ],
        [
          await policy("badkey", { secretAccessKey: "wrong" }),
          /SignatureDoesNotMatch .*check the secret access key/,
        ],
      ];
      for (const [file, want] of cases) {
        for (const args of [["list-backups", file, "ceph"], ["status", file]]) {
          const r = await inProcess(args);
          assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
          assert.equal(r.stderr.split("\n").length, 1, r.stderr);
          assert.match(r.stderr, want);
          assert.doesNotMatch(r.stderr, /UnknownError/);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("--json failures are one JSON object too, with the exit code", async () => {
  for (
    const [args, code] of [
      [["update", "--json", "--bogus", "p.ts"], 2],
      [["update", "--json", "/nonexistent/policy.ts"], 2],
    ] as const
  ) {
    const r = await inProcess([...args]);
    assert.equal(r.code, code, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.exitCode, code);
    assert.equal(typeof j.error, "string");
    assert.ok(r.stderr.length > 0);
  }
});

Deno.test("log lines are stamped in the config's zone when not on a terminal", () => {
  assert.equal(logTime(0, "UTC"), "1970-01-01T00:00:00.000Z");
  assert.equal(logTime(0, "Asia/Kolkata"), "1970-01-01T05:30:00.000+05:30");
  const base = memoryOutput();
  modeOutput(base, { timeZone: "Asia/Kolkata" }).log("hello");
  assert.match(base.stdout[0], /^\d{4}-\d\d-\d\dT[\d:.]+\+05:30 hello$/);
  const json = memoryOutput();
  const shaped = modeOutput(json, { json: true });
  shaped.print("plan");
  shaped.log("action");
  assert.deepEqual(json.stdout, []);
  assert.equal(json.stderr.length, 2);
  const quiet = memoryOutput();
  const q = modeOutput(quiet, { quiet: true });
  q.print("plan");
  q.log("action");
  q.error("warning: x");
  assert.deepEqual(quiet.lines, ["warning: x"]);
});

Deno.test("a retry line names the remote, the request, the attempt, the reason and the wait", () => {
  const line = describeRetry("aws", {
    what: "put k",
    attempt: 2,
    delayMs: 400,
    error: new TypeError("error sending request: connection reset\nmore"),
  });
  assert.equal(
    line,
    "retry aws: put k: attempt 2 failed (TypeError: error sending request: connection reset); next in 0.4 s",
  );
});
