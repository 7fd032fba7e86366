/**
 * Resume for real: `update` (the CLI, in a process group of its own) is
 * killed with SIGKILL at about 60% of a large upload to Ceph; the next plain
 * `update` sends only what the store lacks (counted at a proxy in front of
 * Ceph), leaves no open upload, and the backup restores byte for byte. With
 * zstd the stream comes out the same and resumes too; with age it comes out
 * different, so the upload starts over, and still succeeds.
 */
import assert from "node:assert/strict";
import { restore } from "../mod.ts";
import type { ConfigInput, PipeStageInput } from "../mod.ts";
import { s3Remote } from "../lib/drivers/remote/s3.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { type S3Server, startS3Server } from "./fixtures/s3_server.ts";
import {
  type ProxiedRequest,
  startFaultProxy,
} from "./fixtures/fault_proxy.ts";

const MiB = 1024 * 1024;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-ffi",
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-sys",
];

function _isUpload(r: ProxiedRequest): boolean {
  return r.method === "PUT" && !r.target.includes("snap2s3-manifests");
}

/** Bytes of part and object bodies the proxy passed on. */
function uploadedBytes(proxy: { log: ProxiedRequest[] }): number {
  return proxy.log.filter(_isUpload).reduce(
    (n, r) => n + (r.bodyBytes ?? 0),
    0,
  );
}

function cli(args: string[], options: { detached?: boolean } = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, CLI, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: options.detached,
  }).spawn();
}

async function scenario(
  server: S3Server,
  sizeMiB: number,
  pipe: (dir: string) => Promise<PipeStageInput[]>,
  expect: "resumes" | "starts over",
): Promise<void> {
  await using src = await createBtrfs({ sizeMiB: sizeMiB * 2 + 512 });
  await using dst = await createBtrfs({ sizeMiB: sizeMiB * 2 + 512 });
  let onRequest: ((r: ProxiedRequest) => void) | null = null;
  await using proxied = startFaultProxy({
    upstream: server.endpoint,
    onRequest: (r) => onRequest?.(r),
  });
  const proxy = Object.assign(proxied, {
    onRequest: (f: typeof onRequest) => onRequest = f,
  });
  const dir = await Deno.makeTempDir();
  const remoteOptions = {
    id: "ceph",
    bucket: await server.createBucket(),
    endpoint: proxy.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  };
  const remote = s3Remote({ ...remoteOptions, provider: "custom" });
  try {
    const data = `${src.mountPoint}/data`;
    const snaps = `${src.mountPoint}/snapshots`;
    await run(["btrfs", "subvolume", "create", data]);
    for (let i = 0; i < sizeMiB / 64; i++) {
      await Deno.writeFile(`${data}/blob${i}.bin`, randomBytes(64 * MiB));
    }
    const config = `${dir}/policy.ts`;
    const configObject: ConfigInput = {
      timezone: "UTC",
      // Fewer parts in flight: the proxy (in this process) and Ceph share two cores.
      remotes: [{
        kind: "s3",
        pathStyle: true,
        concurrency: 3,
        ...remoteOptions,
      }],
      sources: [{
        kind: "btrfs",
        path: data,
        snapshots: snaps,
        upload: [{ remote: "ceph", preserve: "1y 1d", pipe: await pipe(dir) }],
      }],
    };
    await Deno.writeTextFile(
      config,
      `export default ${JSON.stringify(configObject)};\n`,
    );

    // First run: killed, process group and all, at about 60% (the proxy
    // pulls the trigger as the request arrives: this process is too busy
    // proxying for a timer to be on time).
    const first = cli(["update", "--force", config], { detached: true });
    let killedAt = 0;
    proxy.onRequest((r) => {
      if (killedAt || !_isUpload(r)) return;
      const sent = uploadedBytes(proxy);
      if (sent < 0.6 * sizeMiB * MiB) return;
      killedAt = sent;
      Deno.kill(-first.pid, "SIGKILL");
    });
    const [firstOut, firstErr] = await Promise.all([
      new Response(first.stdout).text(),
      new Response(first.stderr).text(),
    ]);
    const firstStatus = await first.status;
    proxy.onRequest(null);
    assert.equal(firstStatus.signal, "SIGKILL", `${firstOut}\n${firstErr}`);
    assert.ok(killedAt < 0.7 * sizeMiB * MiB, `killed at ${killedAt}`);
    assert.equal((await remote.listOpenUploads()).length, 1);
    const journals = (await Array.fromAsync(Deno.readDir(snaps))).filter((e) =>
      e.name.endsWith(".upload")
    );
    assert.equal(journals.length, 1, "the killed run left its journal");

    // Second run: a plain update.
    proxy.reset();
    const second = cli(["update", "--force", config]);
    const [out, err] = await Promise.all([
      new Response(second.stdout).text(),
      new Response(second.stderr).text(),
    ]);
    assert.equal((await second.status).code, 0, `${out}\n${err}`);
    assert.match(
      out,
      /resume upload of ceph:data\..*: \d+ part\(s\), .* stored/,
    );
    const sent = uploadedBytes(proxy);
    const listed = await Array.fromAsync(remote.list());
    const object = listed.find((o) => o.key.startsWith("data."))!;
    if (expect === "resumes") {
      assert.match(out, /resumed an interrupted upload: \d+ part\(s\)/);
      assert.ok(
        sent <= object.size / 2,
        `the second run sent ${sent} of ${object.size} bytes`,
      );
    } else {
      assert.match(out, /no part matched .* every part was sent again/);
      assert.ok(sent >= object.size, `sent ${sent} of ${object.size}`);
    }
    assert.deepEqual(await remote.listOpenUploads(), []);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(snaps))).filter((e) =>
        !e.name.startsWith("data.")
      ),
      [],
      "no journal or lock file is left",
    );
    // Byte for byte.
    const restored = await restore(configObject, {
      dest: dst.mountPoint,
      remote: "ceph",
    });
    assert.equal(restored.received.length, 1);
    assert.deepEqual(
      await treeSums(restored.received[0].path),
      await treeSums(data),
    );
    await remote.delete(listed.map((o) => o.key));
  } finally {
    remote.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "killed at 60% of an upload, the next run sends at most half the stream: plain, zstd; age starts over",
  ignore: skipUnlessRoot(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using server = await startS3Server();
    await t.step("a 1 GiB send stream resumes", async () => {
      await scenario(server, 1024, () => Promise.resolve([]), "resumes");
    });
    await t.step("through zstd it resumes too", async () => {
      await scenario(
        server,
        512,
        () => Promise.resolve([{ kind: "zstd", level: 3 }]),
        "resumes",
      );
    });
    await t.step("through age it starts over and still succeeds", async () => {
      await scenario(server, 256, async (dir) => {
        await run(["age-keygen", "-o", `${dir}/id.txt`]);
        const recipient = (await run(["age-keygen", "-y", `${dir}/id.txt`]))
          .stdout.trim();
        return [{
          kind: "age",
          recipients: [recipient],
          identityFile: `${dir}/id.txt`,
        }];
      }, "starts over");
    });
  },
});
