/**
 * Restores of archived backups through the archive emulator (AWS's
 * documented GLACIER behaviour in front of Ceph RGW): the first restore asks
 * for the retrieval of every archived object of the chain once and exits 75
 * with one line; run again after the delay it restores byte for byte;
 * `--wait` does it in one run; a repeated request while one runs (409)
 * counts as asked for.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { memoryOutput } from "../lib/app/output.ts";
import { openRemote } from "../lib/app/remotes.ts";
import { validateConfig } from "../lib/app/config/validate.ts";
import { parseRestoreHeader } from "../lib/drivers/remote/_s3_archive.ts";
import { listBackups, restore, RetrievalPendingError, update } from "../mod.ts";
import { verify } from "../lib/app/commands/verify.ts";
import { cat } from "../lib/app/commands/cat.ts";
import type { ConfigInput } from "../mod.ts";
import { startArchiveEmulator } from "./fixtures/archive_emulator.ts";
import { createBtrfs } from "./fixtures/btrfs.ts";
import { randomBytes, treeSums } from "./fixtures/data.ts";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { run } from "./fixtures/process.ts";
import { startS3Server } from "./fixtures/s3_server.ts";

const DELAY_MS = 1500;

Deno.test("x-amz-restore reads as ongoing, ready with its expiry, or none", () => {
  assert.deepEqual(parseRestoreHeader(undefined), { restore: "none" });
  assert.deepEqual(parseRestoreHeader('ongoing-request="true"'), {
    restore: "ongoing",
  });
  assert.deepEqual(
    parseRestoreHeader(
      'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"',
    ),
    {
      restore: "ready",
      restoreExpiry: new Date("2012-12-21T00:00:00Z"),
    },
  );
});

Deno.test({
  name: "restore of archived backups through the archive emulator",
  ignore: skipUnlessRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using server = await startS3Server();
    await using emulator = await startArchiveEmulator({
      upstream: server.endpoint,
      restoreDelayMs: DELAY_MS,
    });
    await using src = await createBtrfs({ sizeMiB: 512 });
    const dsts = [
      await createBtrfs({ sizeMiB: 512 }),
      await createBtrfs({ sizeMiB: 512 }),
    ];
    try {
      const data = `${src.mountPoint}/data`;
      await run(["btrfs", "subvolume", "create", data]);
      // Each backup above the 5 MiB part size: multipart, so each has a
      // manifest (a one-PutObject backup carries its SHA-256 in its metadata).
      await Deno.writeFile(`${data}/a.bin`, randomBytes(6_000_000));
      const bucket = await server.createBucket();
      // Every object in GLACIER, manifests too (the remote's own class).
      const config: ConfigInput = {
        timezone: "UTC",
        remotes: [{
          kind: "s3",
          id: "aws",
          bucket,
          endpoint: emulator.endpoint,
          region: server.region,
          pathStyle: true,
          accessKeyId: server.accessKeyId,
          secretAccessKey: server.secretAccessKey,
          storageClass: "GLACIER",
          partSizeMiB: 5,
        }],
        sources: [{
          kind: "btrfs",
          path: data,
          snapshots: `${src.mountPoint}/snaps`,
          upload: [{ remote: "aws", preserve: "1y 1d 2s" }],
        }],
      };
      assert.ok((await update(config, { force: true })).ok);
      await new Promise((r) => setTimeout(r, 1100));
      await Deno.writeFile(`${data}/b.bin`, randomBytes(6_000_000));
      assert.ok((await update(config, { force: true })).ok);
      const backups = (await listBackups(config, "aws")).sources[0].backups;
      assert.equal(backups.length, 2);
      assert.ok(backups.every((b) => b.storageClass === "GLACIER"));
      const newest = backups[1];
      assert.equal(newest.parent, backups[0].uuid, "a chain of two");
      // Two backups, each an object and a manifest: four archived objects.
      const archivedPaths = backups.flatMap((b) => [b.key, manifestOf(b.key)])
        .map((k) => `/${bucket}/${k}`);
      const file = `${src.mountPoint}/policy.ts`;
      await Deno.writeTextFile(
        file,
        `export default ${JSON.stringify(config)};\n`,
      );
      const dest = dsts[0].mountPoint;

      await t.step(
        "the first restore asks for every archived object of the chain once, then exits 75 with one line",
        async () => {
          const out = memoryOutput();
          const code = await main([
            "restore",
            file,
            dest,
            "aws",
            newest.uuid,
            "--days",
            "2",
            "--tier",
            "bulk",
          ], out);
          assert.equal(code, 75, out.lines.join("\n"));
          assert.equal(out.stderr.length, 1, out.stderr.join("\n"));
          assert.match(
            out.stderr[0],
            /^snap2s3: retrieval requested for 4 archived object\(s\), [\d.]+ [KM]iB, of remote aws \(GLACIER Bulk retrievals usually take 5-12 hours\); run the restore again once they are ready, or add --wait$/,
          );
          const asked = emulator.restoreRequests;
          assert.deepEqual(
            asked.map((r) => decodeURIComponent(r.path)).sort(),
            archivedPaths.sort(),
            "each archived object once",
          );
          assert.ok(asked.every((r) => r.status === 202));
          assert.ok(asked.every((r) => r.days === 2 && r.tier === "Bulk"));
          assert.equal(emulator.refusedReads, 4, "probed, found archived");
          // Nothing was received.
          assert.deepEqual(await Array.fromAsync(Deno.readDir(dest)), []);
        },
      );

      await t.step(
        "run again while the retrieval runs: still 75, nothing asked twice; a repeated request answered 409 counts as asked",
        async () => {
          await assert.rejects(
            restore(config, { dest, remote: "aws", uuid: newest.uuid }),
            (e: unknown) => {
              assert.ok(e instanceof RetrievalPendingError, String(e));
              assert.equal(e.objects, 4);
              return true;
            },
          );
          assert.equal(emulator.restoreRequests.length, 4, "HEAD said ongoing");
          const remote = openRemote(validateConfig(config).remotes[0]);
          try {
            assert.equal(
              await remote.cold!.requestRestore(newest.key, {
                days: 1,
                tier: "Standard",
              }),
              "in-progress",
            );
          } finally {
            remote.close();
          }
          assert.equal(emulator.restoreRequests.at(-1)?.status, 409);
        },
      );

      await t.step(
        "after the delay, a later run finds them ready and restores byte for byte",
        async () => {
          await new Promise((r) => setTimeout(r, DELAY_MS + 200));
          const before = emulator.restoreRequests.length;
          const r = await restore(config, {
            dest,
            remote: "aws",
            uuid: newest.uuid,
          });
          assert.equal(r.received.length, 2);
          assert.ok(r.backups.every((b) => b.verified));
          assert.equal(emulator.restoreRequests.length, before, "none asked");
          const snaps = (await Array.fromAsync(
            Deno.readDir(`${src.mountPoint}/snaps`),
          )).map((e) => e.name).sort();
          assert.deepEqual(
            await treeSums(r.received[1].path),
            await treeSums(`${src.mountPoint}/snaps/${snaps.at(-1)}`),
          );
        },
      );

      await t.step(
        "verify and cat ask for the retrieval too, and exit 75",
        async () => {
          emulator.reset();
          await assert.rejects(
            verify(config, { remote: "aws" }),
            (e: unknown) =>
              e instanceof RetrievalPendingError && e.objects === 4,
          );
          await assert.rejects(
            cat(
              config,
              { remote: "aws", uuid: newest.uuid },
              new WritableStream(),
            ),
            (e: unknown) =>
              e instanceof RetrievalPendingError && e.objects === 2,
          );
          assert.equal(emulator.restoreRequests.length, 4, "each asked once");
          const checked = await verify(config, {
            remote: "aws",
            retrieval: { wait: true, pollMs: 300 },
          });
          assert.ok(checked.ok);
          assert.ok(checked.backups.every((b) => b.sha256 === "verified"));
        },
      );

      await t.step("--wait asks, waits and restores in one run", async () => {
        emulator.reset();
        const out = memoryOutput();
        const r = await restore(config, {
          dest: dsts[1].mountPoint,
          remote: "aws",
          uuid: newest.uuid,
          output: out,
          retrieval: { wait: true, pollMs: 300 },
        });
        assert.equal(r.received.length, 2);
        assert.equal(emulator.restoreRequests.length, 4);
        assert.ok(
          out.lines.some((l) =>
            /^waiting for the retrieval of 4 archived object\(s\), .* \(GLACIER Standard retrievals usually take 3-5 hours\)$/
              .test(l)
          ),
          out.lines.join("\n"),
        );
        assert.ok(
          out.lines.some((l) =>
            /^retrieval: [0-3] of 4 objects ready; next check in [\d.]+ s$/
              .test(l)
          ),
          out.lines.join("\n"),
        );
        assert.ok(
          out.lines.includes("retrieval done: 4 of 4 objects ready"),
          out.lines.join("\n"),
        );
        assert.deepEqual(
          await treeSums(r.received[1].path),
          await treeSums(r.received[1].path.replace(
            dsts[1].mountPoint,
            dsts[0].mountPoint,
          )),
        );
      });
    } finally {
      for (const d of dsts) await d.close();
    }
  },
});

function manifestOf(key: string): string {
  return `snap2s3-manifests/${key.replaceAll(".", "_")}.json`;
}
