import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acquireLock,
  describeHolder,
  LockHeldError,
  readLockHolder,
  restoreLockPath,
  sourceLockPath,
} from "../lib/app/lock.ts";
import { run } from "./fixtures/process.ts";

const HOLDER = new URL("./fixtures/lock_holder.ts", import.meta.url).pathname;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts the lock holder fixture and waits until it holds the lock. */
async function startHolder(path: string, ...flags: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HOLDER, path, ...flags],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`lock holder ended early: ${text}`);
    text += value;
  }
  const info = JSON.parse(text) as { pid: number; child: number | null };
  const kill = async () => {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
  };
  return { info, kill };
}

/** Whether a process runs (a zombie, dead but not reaped, does not). */
async function alive(pid: number): Promise<boolean> {
  const ps = await run(["ps", "-o", "stat=", "-p", String(pid)], {
    check: false,
  });
  return ps.success && !ps.stdout.trim().startsWith("Z");
}

Deno.test("a held lock refuses a second run at once, naming pid, host and start time", async () => {
  await withDir(async (dir) => {
    const path = sourceLockPath(dir, "data");
    assert.equal(path, join(dir, ".snap2s3-data.lock"));
    await using lock = await acquireLock(path, { command: "update" });
    assert.equal(lock.holder.pid, Deno.pid);
    assert.equal(lock.holder.command, "update");
    assert.deepEqual(await readLockHolder(path), lock.holder);
    const t0 = performance.now();
    const err = await acquireLock(path, { what: "source /mnt/data" }).then(
      () => assert.fail("a second lock was granted"),
      (e) => e,
    );
    assert.ok(performance.now() - t0 < 1000, "it did not fail at once");
    assert.ok(err instanceof LockHeldError, String(err));
    assert.deepEqual(err.holder, lock.holder);
    assert.match(
      err.message,
      new RegExp(
        `^source /mnt/data is locked by snap2s3 update \\(pid ${Deno.pid} on ${Deno.hostname()}, since ${lock.holder.since}, \\d+ s ago\\) \\(lock file ${path}\\); try again later, or wait for it with --wait-lock\\[=SECONDS\\]$`,
      ),
    );
  });
});

Deno.test("releasing a lock removes its file and lets the next run take it", async () => {
  await withDir(async (dir) => {
    const path = restoreLockPath(dir);
    const first = await acquireLock(path);
    await first.release();
    await first.release(); // a second release does nothing
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    const second = await acquireLock(path);
    assert.ok((await Deno.stat(path)).isFile);
    await second.release();
  });
});

Deno.test("a waiting run takes the lock as soon as its holder releases it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "x.lock");
    const first = await acquireLock(path, { command: "update" });
    let waitedFor: unknown = "not called";
    const t0 = performance.now();
    const waiting = acquireLock(path, {
      wait: 10,
      onWait: (h) => waitedFor = h,
    });
    setTimeout(() => first.release(), 400);
    const second = await waiting;
    const took = performance.now() - t0;
    assert.ok(took >= 350 && took < 5000, `took ${took} ms`);
    assert.deepEqual(waitedFor, first.holder);
    // The winner holds the file at the path: a third run is refused.
    await assert.rejects(acquireLock(path), LockHeldError);
    await second.release();
  });
});

Deno.test("waiting gives up at the deadline and says how long it waited", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "x.lock");
    await using _held = await acquireLock(path, { command: "update" });
    const t0 = performance.now();
    const err = await acquireLock(path, { wait: 0.5, what: "source /a" })
      .then(() => assert.fail("granted"), (e) => e);
    const took = performance.now() - t0;
    assert.ok(err instanceof LockHeldError);
    assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
    assert.match(err.message, /locked by snap2s3 update .* after waiting 1 s/);
  });
});

Deno.test("an aborted wait for a lock stops at once with the abort reason", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "x.lock");
    await using _held = await acquireLock(path);
    const controller = new AbortController();
    const reason = new Error("interrupted by SIGINT");
    setTimeout(() => controller.abort(reason), 200);
    const t0 = performance.now();
    await assert.rejects(
      acquireLock(path, { wait: Infinity, signal: controller.signal }),
      (e) => e === reason,
    );
    assert.ok(performance.now() - t0 < 2000);
  });
});

Deno.test("the kernel frees the lock of a holder killed with SIGKILL at once", async () => {
  await withDir(async (dir) => {
    const path = sourceLockPath(dir, "data");
    const { info, kill } = await startHolder(path);
    const err = await acquireLock(path).then(() => null, (e) => e);
    assert.ok(err instanceof LockHeldError, String(err));
    assert.equal(err.holder?.pid, info.pid);
    assert.equal(err.holder?.command, "test-holder");
    await kill();
    // The dead holder's file is still there, but its lock is gone: no wait needed.
    assert.equal((await readLockHolder(path))?.pid, info.pid);
    const lock = await acquireLock(path);
    assert.equal((await readLockHolder(path))?.pid, Deno.pid);
    await lock.release();
  });
});

Deno.test("a process started by the holder does not inherit the lock", async () => {
  await withDir(async (dir) => {
    const path = sourceLockPath(dir, "data");
    const { info, kill } = await startHolder(path, "--spawn-child");
    const sleeper = info.child!;
    try {
      await kill();
      assert.ok(await alive(sleeper), "the holder's child should still run");
      const lock = await acquireLock(path);
      await lock.release();
    } finally {
      await run(["kill", "-9", String(sleeper)], { check: false });
    }
  });
});

Deno.test("a holder is described with its command, pid, host, start and age", () => {
  assert.equal(
    describeHolder({
      pid: 42,
      host: "nas",
      since: "2026-05-01T10:00:00Z",
      command: "update",
    }, Date.parse("2026-05-01T10:03:00Z")),
    "snap2s3 update (pid 42 on nas, since 2026-05-01T10:00:00Z, 3 min ago)",
  );
});

Deno.test("a lock file snap2s3 did not write names no holder", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "x.lock");
    await Deno.writeTextFile(path, "12345\n");
    assert.equal(await readLockHolder(path), null);
    const file = await Deno.open(path, { read: true, write: true });
    try {
      assert.ok(await file.tryLock(true));
      const err = await acquireLock(path).then(() => null, (e) => e);
      assert.ok(err instanceof LockHeldError);
      assert.equal(err.holder, null);
      assert.match(
        err.message,
        /locked by another process \(its lock file does not say which\)/,
      );
    } finally {
      file.close();
    }
  });
});

Deno.test("a lock that made its directory removes it again on release, unless something else is in it", async () => {
  await withDir(async (dir) => {
    const path = sourceLockPath(`${dir}/a/snapshots`, "data");
    const first = await acquireLock(path, { createDirectory: true });
    await first.release();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
    const second = await acquireLock(path, { createDirectory: true });
    await Deno.writeTextFile(`${dir}/a/snapshots/kept`, "");
    await second.release();
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${dir}/a/snapshots`))).map((e) =>
        e.name
      ),
      ["kept"],
    );
  });
});
