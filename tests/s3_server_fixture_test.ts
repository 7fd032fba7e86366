import assert from "node:assert/strict";
import { skipUnlessRoot } from "./fixtures/env.ts";
import { withS3Server } from "./fixtures/s3_server.ts";
import { run } from "./fixtures/process.ts";
import { randomBytes } from "./fixtures/data.ts";

Deno.test({
  name:
    "an object put to the Ceph server reads back identical, and the daemons stop",
  ignore: skipUnlessRoot(),
  fn: async () => {
    let pids: number[] = [];
    await withS3Server(async (server) => {
      console.log(
        `Ceph RGW (memstore) started in ${server.startSeconds.toFixed(1)} s`,
      );
      const bucket = await server.createBucket();
      const { S3Client, PutObjectCommand, GetObjectCommand } = await import(
        "@aws-sdk/client-s3"
      );
      const client = new S3Client({
        endpoint: server.endpoint,
        region: server.region,
        forcePathStyle: true,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        credentials: {
          accessKeyId: server.accessKeyId,
          secretAccessKey: server.secretAccessKey,
        },
      });
      try {
        const body = randomBytes(1 << 20);
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: "a/b.bin", Body: body }),
        );
        const got = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: "a/b.bin" }),
        );
        assert.deepEqual(
          new Uint8Array(await got.Body!.transformToByteArray()),
          body,
        );
      } finally {
        client.destroy();
      }
      pids = server.pids;
      assert.equal(pids.length, 3, "mon, osd and radosgw were started");
      for (const pid of pids) {
        assert.ok(await running(pid), `daemon ${pid} is running`);
      }
    });
    for (const pid of pids) {
      assert.ok(
        !(await running(pid)),
        `daemon ${pid} still running after stop`,
      );
    }
  },
});

/** Alive and not a zombie (a reaped-later daemon shows as Z). */
async function running(pid: number): Promise<boolean> {
  const r = await run(["ps", "-o", "stat=", "-p", String(pid)], {
    check: false,
  });
  return r.success && !r.stdout.trim().startsWith("Z");
}
