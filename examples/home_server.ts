/**
 * A home server: /home and /srv backed up to AWS S3 with credentials from an
 * AWS profile, compressed with zstd and encrypted with age before upload.
 *
 *     snap2s3 update examples/home_server.ts
 */
import { age, btrfs, defineConfig, s3, zstd } from "snap2s3";

const pipe = [
  zstd({ level: 6 }),
  age({
    recipients: [
      "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    ],
    // Only `restore` reads the identity; keep it off the server if you can.
    identityFile: "/root/.config/snap2s3/age-identity.txt",
  }),
];

export default defineConfig({
  timezone: "Europe/Berlin",
  remotes: [
    s3({
      id: "aws",
      bucket: "my-home-backups",
      region: "eu-central-1",
      profile: "backup",
      storageClass: "STANDARD_IA",
    }),
  ],
  sources: [
    btrfs({
      path: "/home",
      snapshots: "/.snapshots",
      upload: [{ remote: "aws", preserve: "1y 3m 30d 24h", pipe }],
    }),
    btrfs({
      path: "/srv",
      snapshots: "/.snapshots",
      upload: [{ remote: "aws", preserve: "1y 12m 14d", pipe }],
    }),
  ],
});
