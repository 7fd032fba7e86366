/**
 * A policy file written as plain data, with only a type import: the form the
 * compiled executable and any other loader accept without snap2s3's helpers.
 */
import type { ConfigInput } from "snap2s3";

const config: ConfigInput = {
  timezone: "UTC",
  remotes: [{ kind: "local", id: "usb", path: "/mnt/usb-backup" }],
  sources: [{
    kind: "btrfs",
    path: "/data",
    // Outside /data, on its btrfs filesystem: a snapshot directory inside the
    // source would change it with every snapshot (snap2s3 refuses that).
    snapshots: "/.snapshots",
    upload: [{
      remote: "usb",
      preserve: "1y 12m 30d",
      pipe: [{ kind: "zstd", level: 3 }],
    }],
  }],
};

export default config;
