import assert from "node:assert/strict";
import { join } from "node:path";
import {
  InterruptedError,
  interruptExitCode,
  interruptScope,
} from "../lib/app/interrupt.ts";
import { run } from "./fixtures/process.ts";

const CHILD = new URL("./fixtures/interrupt_child.ts", import.meta.url)
  .pathname;

/** Whether a process runs (a zombie, dead but not reaped, does not). */
async function alive(pid: number): Promise<boolean> {
  const ps = await run(["ps", "-o", "stat=", "-p", String(pid)], {
    check: false,
  });
  return ps.success && !ps.stdout.trim().startsWith("Z");
}

/** Runs the fixture until it prints "ready"; returns it with its output so far. */
async function startChild(
  dir: string,
  mode: "clean" | "stubborn" | "paused",
  permissions = ["-A"],
) {
  const pidFile = join(dir, "sleep.pid");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, CHILD, pidFile, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child ended early: ${text}`);
    text += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  const stderr = new Response(child.stderr).text();
  const sleeper = Number((await Deno.readTextFile(pidFile)).trim());
  return { child, rest, stderr, sleeper };
}

Deno.test("the first SIGTERM aborts the run's signal; the run stops its pipe stages and exits 143", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { child, rest, stderr, sleeper } = await startChild(dir, "clean");
    assert.ok(await alive(sleeper));
    child.kill("SIGTERM");
    const status = await child.status;
    const out = await rest;
    assert.equal(status.code, 143, `${out}\n${await stderr}`);
    assert.match(out, /interrupted SIGTERM\n/);
    assert.match(
      out,
      /output errored: InterruptedError: interrupted by SIGTERM/,
    );
    // What the sh stage started in the background went with it.
    assert.ok(!(await alive(sleeper)), "the stage's child is still running");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with --allow-run limited to named programs, a stage's whole group is still stopped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Deno cannot signal a process group then; libc kill(2) through FFI can.
    const { child, rest, stderr, sleeper } = await startChild(dir, "clean", [
      "--allow-run=sh",
      "--allow-ffi",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
    ]);
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 143, `${await rest}\n${await stderr}`);
    assert.ok(!(await alive(sleeper)), "the stage's child is still running");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second SIGINT exits at once with 130 and kills every pipe stage", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { child, rest, stderr, sleeper } = await startChild(dir, "stubborn");
    child.kill("SIGINT");
    // The first signal is only noted: the run goes on.
    let out = "";
    const first = await Promise.race([
      child.status.then(() => "exited"),
      new Promise((r) => setTimeout(() => r("running"), 500)),
    ]);
    assert.equal(first, "running");
    assert.ok(await alive(sleeper));
    child.kill("SIGINT");
    const status = await child.status;
    out = await rest;
    assert.equal(status.code, 130, `${out}\n${await stderr}`);
    assert.match(out, /interrupted SIGINT\n/);
    assert.doesNotMatch(out, /output (ended|errored)/);
    // Killed with the process: nothing of the pipe is left.
    for (let i = 0; i < 50 && await alive(sleeper); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!(await alive(sleeper)), "a stage's child outlived the exit");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("during a blocking prompt (paused) a signal ends the process as usual", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { child, rest, sleeper } = await startChild(dir, "paused");
    await new Promise((r) => setTimeout(r, 300)); // inside the pause by now
    const t0 = performance.now();
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.signal, "SIGTERM", await rest);
    assert.ok(performance.now() - t0 < 5000);
    await run(["kill", "-9", String(sleeper)], { check: false });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after dispose, signals are no longer taken by the scope", () => {
  const scope = interruptScope();
  assert.equal(scope.received, null);
  assert.equal(scope.signal.aborted, false);
  scope.dispose();
  scope.dispose();
  assert.equal(interruptExitCode("SIGINT"), 130);
  assert.equal(interruptExitCode("SIGTERM"), 143);
  const e = new InterruptedError("SIGTERM");
  assert.equal(e.exitCode, 143);
  assert.equal(e.message, "interrupted by SIGTERM");
});
