import assert from "node:assert/strict";
import { PipelineError, pipeThrough } from "../lib/drivers/pipe/pipeline.ts";
import {
  forwardArgvs,
  inverseArgvs,
  inverseFromSuffixes,
  keySuffixes,
  stageArgv,
  stageInverseArgv,
  stageSuffix,
} from "../lib/drivers/pipe/stages.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import type { PipeStage } from "../lib/core/config_types.ts";
import { run } from "./fixtures/process.ts";

const MiB = 1024 * 1024;

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  }
  return out;
}

/** A stream of `data` in 1 MiB chunks, produced on demand. */
function streamOf(data: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.slice(offset, offset + MiB));
      offset += MiB;
    },
  }, { highWaterMark: 0 });
}

async function collect(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Validates stages through the config schema, as the program would get them. */
function stages(...pipe: unknown[]): PipeStage[] {
  const config = validateConfig({
    timezone: "UTC",
    sources: [{
      kind: "btrfs",
      path: "/src",
      snapshots: "/snaps",
      upload: [{ remote: "r", preserve: "1d", pipe }],
    }],
    remotes: [{ kind: "local", id: "r", path: "/backups" }],
  });
  return config.sources[0].upload[0].pipe;
}

async function roundTrip(
  pipe: PipeStage[],
  inverse: string[][],
  data: Uint8Array,
  env?: Record<string, string>,
): Promise<Uint8Array> {
  const encoded = await collect(
    pipeThrough(streamOf(data), forwardArgvs(pipe), { env }),
  );
  assert.notDeepEqual(encoded.subarray(0, 4096), data.subarray(0, 4096));
  return await collect(pipeThrough(streamOf(encoded), inverse, { env }));
}

Deno.test("zstd stage round trip restores 20 MiB of random data", async () => {
  const data = randomBytes(20 * MiB);
  const pipe = stages({ kind: "zstd", level: 3 });
  assert.deepEqual(keySuffixes(pipe), ["zst"]);
  const back = await roundTrip(pipe, inverseFromSuffixes(["zst"]), data);
  assert.equal(back.length, data.length);
  assert.deepEqual(back, data);
});

Deno.test("gzip stage round trip restores 20 MiB of random data", async () => {
  const data = randomBytes(20 * MiB);
  const pipe = stages({ kind: "gzip", level: 1 });
  assert.deepEqual(keySuffixes(pipe), ["gz"]);
  const back = await roundTrip(pipe, inverseFromSuffixes(["gz"]), data);
  assert.deepEqual(back, data);
});

Deno.test("age stage round trip with a generated key restores 20 MiB of random data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/key.txt`;
    await run(["age-keygen", "-o", key]);
    const recipient = (await run(["age-keygen", "-y", key])).stdout.trim();
    const data = randomBytes(20 * MiB);
    const pipe = stages({ kind: "age", recipients: [recipient] });
    assert.deepEqual(keySuffixes(pipe), ["age"]);
    const back = await roundTrip(
      pipe,
      inverseFromSuffixes(["age"], { ageIdentityFile: key }),
      data,
    );
    assert.deepEqual(back, data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zstd then age is undone from the key suffixes alone, age first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/key.txt`;
    await run(["age-keygen", "-o", key]);
    const recipient = (await run(["age-keygen", "-y", key])).stdout.trim();
    const pipe = stages(
      { kind: "zstd" },
      { kind: "age", recipients: [recipient], identityFile: key },
    );
    const suffixes = keySuffixes(pipe);
    assert.deepEqual(suffixes, ["zst", "age"]);
    // The identity comes from the configured stage when restore is given the config.
    const inverse = inverseFromSuffixes(suffixes, { stages: pipe });
    assert.deepEqual(inverse.map((a) => a[0]), ["age", "zstd"]);
    assert.deepEqual(inverse, inverseArgvs(pipe));
    // Compressible data: zstd must really have run before age.
    const data = new TextEncoder().encode("snap2s3 ".repeat(2 * MiB));
    const encoded = await collect(
      pipeThrough(streamOf(data), forwardArgvs(pipe)),
    );
    assert.ok(encoded.length < data.length / 10, `${encoded.length} bytes`);
    const back = await collect(pipeThrough(streamOf(encoded), inverse));
    assert.deepEqual(back, data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gpg stage round trip with a throwaway keyring restores the data", async () => {
  const home = await Deno.makeTempDir();
  const env = { GNUPGHOME: home };
  try {
    await Deno.chmod(home, 0o700);
    await run([
      "gpg",
      "--batch",
      "--passphrase",
      "",
      "--quick-gen-key",
      "snap2s3 test <test@example.invalid>",
      "future-default",
      "default",
      "never",
    ], { env });
    const data = randomBytes(2 * MiB);
    const pipe = stages({ kind: "gpg", recipient: "test@example.invalid" });
    assert.deepEqual(keySuffixes(pipe), ["gpg"]);
    const back = await roundTrip(pipe, inverseFromSuffixes(["gpg"]), data, env);
    assert.deepEqual(back, data);
  } finally {
    await run(["gpgconf", "--kill", "gpg-agent"], { env, check: false });
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a failing middle stage errors the output even though later stages succeed", async () => {
  const data = randomBytes(4 * MiB);
  const output = pipeThrough(streamOf(data), [
    ["cat"],
    ["sh", "-c", "head -c 100; echo 'disk on fire' >&2; exit 3"],
    ["cat"],
  ]);
  const err = await collect(output).then(
    () => assert.fail("the output closed cleanly"),
    (e) => e,
  );
  assert.ok(err instanceof PipelineError, String(err));
  const failure = err.failures.find((f) => f.index === 1);
  assert.ok(failure, err.message);
  assert.equal(failure.code, 3);
  assert.deepEqual(failure.argv, [
    "sh",
    "-c",
    "head -c 100; echo 'disk on fire' >&2; exit 3",
  ]);
  assert.equal(failure.stderr, "disk on fire");
  assert.match(
    err.message,
    /pipe stage 2\/3 `sh -c .*` exited with code 3; stderr: disk on fire/,
  );
  // The last stage exited 0: it is not blamed.
  assert.ok(!err.failures.some((f) => f.index === 2));
});

Deno.test("a last stage that stops reading early and exits 0 still errors the output: the stage before it fails", async () => {
  // Like `set -o pipefail`: head exits 0, the producer stage is killed by SIGPIPE.
  const output = pipeThrough(streamOf(randomBytes(8 * MiB)), [
    ["cat"],
    ["head", "-c", "10"],
  ]);
  const err = await collect(output).then(() => null, (e) => e);
  assert.ok(
    err instanceof PipelineError,
    "a cut-short stream must not end cleanly",
  );
  assert.equal(err.failures[0].index, 0);
});

Deno.test("a stage killed by a signal errors the output naming the signal", async () => {
  const output = pipeThrough(streamOf(randomBytes(MiB)), [
    ["sh", "-c", "kill -9 $$"],
  ]);
  await assert.rejects(collect(output), (e: unknown) => {
    assert.ok(e instanceof PipelineError);
    assert.equal(e.failures[0].signal, "SIGKILL");
    assert.match(
      e.message,
      /pipe stage 1\/1 `sh -c 'kill -9 \$\$'` was killed by SIGKILL/,
    );
    return true;
  });
});

Deno.test("a failing input stream errors the output and stops the stages", async () => {
  let sent = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 3) {
        controller.error(new Error("btrfs send died"));
        return;
      }
      sent++;
      controller.enqueue(randomBytes(MiB));
    },
  }, { highWaterMark: 0 });
  const output = pipeThrough(input, [["cat"], ["cat"]]);
  await assert.rejects(collect(output), (e: unknown) => {
    assert.ok(e instanceof PipelineError);
    assert.match(e.message, /the input of the pipe failed: btrfs send died/);
    assert.equal((e.inputError as Error).message, "btrfs send died");
    assert.deepEqual(
      e.failures,
      [],
      "stages stopped by the pipeline are not blamed",
    );
    return true;
  });
});

Deno.test("cancelling the output kills every stage and cancels the input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let inputCancelled = false;
    const input = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(65536).fill(120));
      },
      cancel() {
        inputCancelled = true;
      },
    }, { highWaterMark: 0 });
    const stage = (
      n: number,
    ) => ["sh", "-c", `echo $$ > ${dir}/${n}.pid; exec cat`];
    const output = pipeThrough(input, [stage(0), stage(1), stage(2)]);
    const reader = output.getReader();
    let received = 0;
    while (received < 4 * MiB) {
      const { value } = await reader.read();
      received += value!.length;
    }
    const pids = await Promise.all(
      [0, 1, 2].map(async (n) =>
        Number((await Deno.readTextFile(`${dir}/${n}.pid`)).trim())
      ),
    );
    for (const pid of pids) assert.ok(await alive(pid), `${pid} running`);
    await reader.cancel();
    for (const pid of pids) {
      assert.ok(!(await alive(pid)), `stage ${pid} still running`);
    }
    assert.ok(inputCancelled);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Whether a process runs; a zombie (dead, not yet reaped) does not. Reading
 * /proc needs more permissions than the tests have.
 */
async function alive(pid: number): Promise<boolean> {
  const ps = await run(["ps", "-o", "stat=", "-p", String(pid)], {
    check: false,
  });
  return ps.success && !ps.stdout.trim().startsWith("Z");
}

/** An input that produces `x` bytes as fast as it is read, until cancelled. */
function endless(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(65536).fill(120));
    },
  }, { highWaterMark: 0 });
}

async function readPid(path: string): Promise<number> {
  for (;;) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text.trim()) return Number(text.trim());
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("cancelling the output also stops what a sh -c stage started", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const output = pipeThrough(endless(), [
      ["sh", "-c", `sleep 600 & echo $! > ${dir}/bg.pid; cat | cat`],
      ["cat"],
    ]);
    const reader = output.getReader();
    await reader.read();
    const bg = await readPid(`${dir}/bg.pid`);
    assert.ok(await alive(bg));
    await reader.cancel();
    assert.ok(!(await alive(bg)), "the stage's background child survived");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("aborting the signal kills every stage and errors the output with the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let inputCancelled = false;
    const input = new ReadableStream<Uint8Array>({
      pull: () => new Promise(() => {}), // stalls, like a send waiting on disk
      cancel() {
        inputCancelled = true;
      },
    });
    const controller = new AbortController();
    const output = pipeThrough(input, [
      ["sh", "-c", `echo $$ > ${dir}/0.pid; exec cat`],
      ["sh", "-c", `sleep 600 & echo $! > ${dir}/1.pid; exec cat`],
    ], { signal: controller.signal });
    const pids = [
      await readPid(`${dir}/0.pid`),
      await readPid(`${dir}/1.pid`),
    ];
    const reason = new Error("interrupted by SIGTERM");
    const t0 = performance.now();
    controller.abort(reason);
    await assert.rejects(collect(output), (e) => e === reason);
    assert.ok(performance.now() - t0 < 4000, "stages were not stopped at once");
    for (const pid of pids) assert.ok(!(await alive(pid)), `${pid} runs`);
    assert.ok(inputCancelled);
    // An already aborted signal starts nothing.
    await assert.rejects(
      collect(pipeThrough(endless(), [["cat"]], { signal: controller.signal })),
      (e) => e === reason,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with no stages the input is returned as it is", () => {
  const input = streamOf(new Uint8Array(10));
  assert.equal(pipeThrough(input, []), input);
});

Deno.test("a missing program errors the output naming the program and how to install it", async () => {
  let inputCancelled = false;
  const input = new ReadableStream<Uint8Array>({
    cancel() {
      inputCancelled = true;
    },
  });
  const output = pipeThrough(input, [["cat"], [
    "snap2s3-no-such-program",
    "-x",
  ]]);
  await assert.rejects(
    collect(output),
    /pipe stage 2\/2 `snap2s3-no-such-program -x`: program "snap2s3-no-such-program" not found; install the package that provides it/,
  );
  assert.ok(inputCancelled);
  // A known program at a wrong path: the hint names its package.
  await assert.rejects(
    collect(pipeThrough(new ReadableStream(), [["cat"], [
      "/nonexistent/zstd",
      "-q",
    ]])),
    /program "\/nonexistent\/zstd" not found; install the zstd package \(e\.g\. apt-get install zstd\)/,
  );
});

Deno.test("piping 512 MiB through two stages keeps memory bounded", async () => {
  const total = 512 * MiB;
  let sent = 0;
  const chunk = new Uint8Array(MiB).fill(7);
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk.length;
      controller.enqueue(chunk.slice());
    },
  }, { highWaterMark: 0 });
  const before = Deno.memoryUsage().rss;
  let peak = before;
  let received = 0;
  for await (const part of pipeThrough(input, [["cat"], ["cat"]])) {
    received += part.length;
    if (received % (16 * MiB) < part.length) {
      peak = Math.max(peak, Deno.memoryUsage().rss);
    }
  }
  assert.equal(received, total);
  const growth = peak - before;
  assert.ok(growth < 128 * MiB, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
});

Deno.test("stage commands, suffixes and inverses per kind", () => {
  const [zstd, zstd22, gzip, age, gpg, cmd, bare] = stages(
    { kind: "zstd" },
    { kind: "zstd", level: 22 },
    { kind: "gzip", level: 9 },
    {
      kind: "age",
      recipients: [
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
      ],
      identityFile: "/keys/age.txt",
    },
    { kind: "gpg", recipient: "me@example.com" },
    { kind: "cmd", argv: ["xz", "-T0"], inverse: ["xz", "-d"], suffix: "xz" },
    { kind: "cmd", argv: ["mbuffer", "-q"] },
  );
  assert.deepEqual(stageArgv(zstd), ["zstd", "-q", "-c", "-T0"]);
  assert.deepEqual(stageArgv(zstd22), [
    "zstd",
    "-q",
    "-c",
    "-T0",
    "--ultra",
    "-22",
  ]);
  assert.deepEqual(stageArgv(gzip), ["gzip", "-c", "-9"]);
  assert.deepEqual(stageArgv(age), [
    "age",
    "--encrypt",
    "--recipient",
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
  ]);
  assert.deepEqual(stageArgv(gpg).slice(-3), [
    "--encrypt",
    "--recipient",
    "me@example.com",
  ]);
  assert.deepEqual(stageArgv(cmd), ["xz", "-T0"]);
  assert.deepEqual(
    [zstd, gzip, age, gpg, cmd, bare].map(stageSuffix),
    ["zst", "gz", "age", "gpg", "xz", null],
  );
  assert.deepEqual(stageInverseArgv(age), [
    "age",
    "--decrypt",
    "--identity",
    "/keys/age.txt",
  ]);
  assert.deepEqual(
    stageInverseArgv(age, { ageIdentityFile: "/other.txt" }),
    ["age", "--decrypt", "--identity", "/other.txt"],
  );
  assert.deepEqual(stageInverseArgv(cmd), ["xz", "-d"]);
  assert.throws(
    () => stageInverseArgv(bare),
    /`mbuffer -q` has no inverse, so restore cannot undo it: set inverse in the config/,
  );
  // A custom suffix is known when the configured stages are given.
  assert.deepEqual(
    inverseFromSuffixes(["xz", "gpg"], { stages: [cmd] }),
    [["gpg", "--batch", "--quiet", "--decrypt"], ["xz", "-d"]],
  );
});

Deno.test("an unknown key suffix is an error suggesting --pipe-through", () => {
  assert.throws(
    () => inverseFromSuffixes(["zst", "lz4"]),
    /backup key suffix "\.lz4" is not one snap2s3 knows how to undo \(known: zst, gz, age, gpg\); pass the commands that undo it to restore with --pipe-through/,
  );
});

Deno.test("age without an identity cannot be undone, and says where to give one", () => {
  assert.throws(
    () => inverseFromSuffixes(["age"]),
    /without an identity: set identityFile in the age stage of the config, or pass the identity/,
  );
});

Deno.test("btrfs2s3-style command stages are undone when recognisably zstd, gzip, gpg or age", () => {
  const cmd = (...argv: string[]): PipeStage => ({ kind: "cmd", argv });
  assert.deepEqual(stageInverseArgv(cmd("zstd", "-T0", "-12")), [
    "zstd",
    "-q",
    "-d",
    "-c",
  ]);
  assert.deepEqual(
    stageInverseArgv(cmd("zstd", "--long=30", "-19")),
    ["zstd", "-q", "-d", "-c", "--long=30"],
  );
  assert.deepEqual(stageInverseArgv(cmd("pigz", "-9")), ["pigz", "-d", "-c"]);
  assert.deepEqual(
    stageInverseArgv(cmd("gpg", "--encrypt", "-r", "me@example.com")),
    ["gpg", "--batch", "--quiet", "--decrypt"],
  );
  assert.deepEqual(
    stageInverseArgv(cmd("age", "-e", "-i", "/k.txt")),
    ["age", "--decrypt", "--identity", "/k.txt"],
  );
  assert.throws(
    () => stageInverseArgv(cmd("age", "-r", "age1abc")),
    /without an identity/,
  );
  assert.throws(() => stageInverseArgv(cmd("zstd", "-d")), /has no inverse/);
  assert.deepEqual(keySuffixes([cmd("zstd", "-T0", "-12")]), []);
});
