/**
 * A laptop backed up to Cloudflare R2. Credentials come from the standard AWS
 * environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) holding an
 * R2 API token.
 *
 *     snap2s3 update examples/r2.ts
 */
import { btrfs, defineConfig, r2, zstd } from "snap2s3";

export default defineConfig({
  timezone: "America/Los_Angeles",
  remotes: [
    r2({
      id: "r2",
      accountId: "0123456789abcdef0123456789abcdef",
      bucket: "laptop",
    }),
  ],
  sources: [
    btrfs({
      path: "/home",
      // Outside /home, on its btrfs filesystem: a snapshot directory inside
      // the source would change it with every snapshot (snap2s3 refuses that).
      snapshots: "/.snapshots",
      upload: [{
        remote: "r2",
        preserve: "1y 6m 4w 7d 12h",
        pipe: [zstd({ level: 3 })],
      }],
    }),
  ],
});
