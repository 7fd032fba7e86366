/**
 * Typed helpers for writing a config in TypeScript. Each returns a plain
 * tagged object (no classes), so a config written as literal data with only
 * `import type` is exactly as valid as one built with these helpers.
 *
 * @module
 */

import type {
  AgeStageInput,
  B2RemoteInput,
  BtrfsSourceInput,
  CmdStageInput,
  ConfigInput,
  GpgStageInput,
  GzipStageInput,
  LocalRemoteInput,
  NotifyInput,
  R2RemoteInput,
  S3RemoteInput,
  ZstdStageInput,
} from "../../core/config_types.ts";
import { compact } from "./_compact.ts";

/**
 * Declares a config. It returns its argument unchanged; its value is the type
 * check. `snap2s3` validates the config when it loads the file.
 *
 * @param config The config: time zone, sources and remotes.
 * @returns The same config.
 *
 * @example A config file (`snap2s3.config.ts`)
 * ```ts
 * import { btrfs, defineConfig, localDir, zstd } from "../../../mod.ts";
 *
 * export default defineConfig({
 *   timezone: "Europe/Berlin",
 *   sources: [
 *     btrfs({
 *       path: "/home",
 *       snapshots: "/snapshots",
 *       upload: [{ remote: "usb", preserve: "1y 3m 30d 24h", pipe: [zstd()] }],
 *     }),
 *   ],
 *   remotes: [localDir({ id: "usb", path: "/mnt/usb/backups" })],
 * });
 * ```
 */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}

/**
 * A btrfs subvolume to snapshot and back up.
 *
 * @param source The subvolume `path`, the `snapshots` directory, and where to `upload` with which policy.
 * @returns The source as plain data (`kind: "btrfs"`).
 *
 * @example
 * ```ts
 * import { btrfs, gzip } from "../../../mod.ts";
 *
 * const home = btrfs({
 *   path: "/home",
 *   snapshots: "/snapshots",
 *   upload: [{ remote: "aws", preserve: "1y 12m 30d", pipe: [gzip()] }],
 * });
 * if (home.kind !== "btrfs") throw new Error("unexpected kind");
 * ```
 */
export function btrfs(
  source: Omit<BtrfsSourceInput, "kind">,
): BtrfsSourceInput {
  return compact({ kind: "btrfs", ...source });
}

/**
 * An S3 remote: AWS, or any S3-compatible server given its `endpoint`
 * (MinIO, Ceph RGW, ...).
 *
 * @param remote `id` and `bucket`, plus optional region, endpoint, credentials, TLS, prefix and tuning.
 * @returns The remote as plain data (`kind: "s3"`).
 *
 * @example
 * ```ts
 * import { s3 } from "../../../mod.ts";
 *
 * const ceph = s3({
 *   id: "ceph",
 *   bucket: "backups",
 *   endpoint: "https://rgw.example.com",
 *   pathStyle: true,
 *   profile: "ceph",
 *   prefix: "laptop/",
 * });
 * if (ceph.kind !== "s3") throw new Error("unexpected kind");
 * ```
 */
export function s3(remote: Omit<S3RemoteInput, "kind">): S3RemoteInput {
  return compact({ kind: "s3", ...remote });
}

/**
 * A Cloudflare R2 remote. The endpoint is derived from `accountId`
 * (`https://<accountId>.r2.cloudflarestorage.com`) unless given.
 *
 * @param remote `id`, `accountId` and `bucket`, plus the optional fields of {@linkcode s3}.
 * @returns The remote as plain data (`kind: "r2"`).
 *
 * @example
 * ```ts
 * import { r2 } from "../../../mod.ts";
 *
 * const cloud = r2({
 *   id: "r2",
 *   accountId: "0123456789abcdef0123456789abcdef",
 *   bucket: "backups",
 * });
 * if (cloud.kind !== "r2") throw new Error("unexpected kind");
 * ```
 */
export function r2(remote: Omit<R2RemoteInput, "kind">): R2RemoteInput {
  return compact({ kind: "r2", ...remote });
}

/**
 * A Backblaze B2 remote (its S3-compatible API). The endpoint is derived from
 * `region` (`https://s3.<region>.backblazeb2.com`) unless given.
 *
 * @param remote `id`, `bucket` and `region` (e.g. `us-west-004`), plus the optional fields of {@linkcode s3}.
 * @returns The remote as plain data (`kind: "b2"`).
 *
 * @example
 * ```ts
 * import { b2 } from "../../../mod.ts";
 *
 * const cloud = b2({ id: "b2", bucket: "backups", region: "us-west-004" });
 * if (cloud.kind !== "b2") throw new Error("unexpected kind");
 * ```
 */
export function b2(remote: Omit<B2RemoteInput, "kind">): B2RemoteInput {
  return compact({ kind: "b2", ...remote });
}

/**
 * A local directory as a remote (a USB disk, a NAS mount): each backup object
 * is a file named by its key.
 *
 * @param remote `id` and the absolute `path` of the directory.
 * @returns The remote as plain data (`kind: "local"`).
 *
 * @example
 * ```ts
 * import { localDir } from "../../../mod.ts";
 *
 * const usb = localDir({ id: "usb", path: "/mnt/usb/backups" });
 * if (usb.kind !== "local") throw new Error("unexpected kind");
 * ```
 */
export function localDir(
  remote: Omit<LocalRemoteInput, "kind">,
): LocalRemoteInput {
  return compact({ kind: "local", ...remote });
}

/**
 * Compress with zstd (key suffix `.zst`; restore decompresses by itself).
 *
 * @param options `level` 1-22 (default: zstd's own, 3).
 * @returns The stage as plain data (`kind: "zstd"`).
 *
 * @example
 * ```ts
 * import { zstd } from "../../../mod.ts";
 *
 * const stage = zstd({ level: 12 });
 * if (stage.level !== 12) throw new Error("level lost");
 * ```
 */
export function zstd(options: { level?: number } = {}): ZstdStageInput {
  return compact({ kind: "zstd", level: options.level });
}

/**
 * Compress with gzip (key suffix `.gz`; restore decompresses by itself).
 *
 * @param options `level` 1-9 (default: gzip's own, 6).
 * @returns The stage as plain data (`kind: "gzip"`).
 *
 * @example
 * ```ts
 * import { gzip } from "../../../mod.ts";
 *
 * const stage = gzip();
 * if (stage.kind !== "gzip") throw new Error("unexpected kind");
 * ```
 */
export function gzip(options: { level?: number } = {}): GzipStageInput {
  return compact({ kind: "gzip", level: options.level });
}

/**
 * Encrypt with age to one or more recipients (key suffix `.age`). Restore
 * decrypts with `identityFile`, or an identity given on its command line.
 *
 * @param options `recipients` (`age1...` or SSH public keys) and optionally the private `identityFile`.
 * @returns The stage as plain data (`kind: "age"`).
 *
 * @example
 * ```ts
 * import { age } from "../../../mod.ts";
 *
 * const stage = age({
 *   recipients: ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"],
 *   identityFile: "/root/.config/snap2s3/age.key",
 * });
 * if (stage.recipients.length !== 1) throw new Error("recipient lost");
 * ```
 */
export function age(
  options: { recipients: string[]; identityFile?: string },
): AgeStageInput {
  return compact({
    kind: "age",
    recipients: options.recipients,
    identityFile: options.identityFile,
  });
}

/**
 * Encrypt with gpg to a public key in the keyring (key suffix `.gpg`).
 * Restore decrypts with the matching private key via gpg-agent.
 *
 * @param options `recipient`: key id, fingerprint or email.
 * @returns The stage as plain data (`kind: "gpg"`).
 *
 * @example
 * ```ts
 * import { gpg } from "../../../mod.ts";
 *
 * const stage = gpg({ recipient: "backup@example.com" });
 * if (stage.recipient !== "backup@example.com") throw new Error("recipient lost");
 * ```
 */
export function gpg(options: { recipient: string }): GpgStageInput {
  return { kind: "gpg", recipient: options.recipient };
}

/**
 * Pipe through any command that reads stdin and writes stdout. By default the
 * key gets no suffix (like btrfs2s3's `pipe_through`); give `inverse` so
 * restore can undo it, and `suffix` to mark keys.
 *
 * @param argv The program and its arguments.
 * @param options `inverse`: the command that undoes it; `suffix`: key suffix (no dots).
 * @returns The stage as plain data (`kind: "cmd"`).
 *
 * @example
 * ```ts
 * import { cmd } from "../../../mod.ts";
 *
 * const xz = cmd(["xz", "-T0", "-6"], { inverse: ["xz", "-d"], suffix: "xz" });
 * if (xz.argv[0] !== "xz") throw new Error("argv lost");
 * ```
 */
export function cmd(
  argv: string[],
  options: { inverse?: string[]; suffix?: string } = {},
): CmdStageInput {
  return compact({
    kind: "cmd",
    argv,
    inverse: options.inverse,
    suffix: options.suffix,
  });
}

/**
 * Hooks for a healthchecks.io-style check: `<url>/start` when an update
 * starts, `<url>` when it succeeds, `<url>/fail` when it fails, each POSTed
 * the run's JSON summary. Give it as the config's `notify`.
 *
 * @param pingUrl The check's ping URL, e.g. `https://hc-ping.com/<uuid>`.
 * @returns The three hooks.
 *
 * @example
 * ```ts
 * import { healthchecks } from "../../../mod.ts";
 *
 * const notify = healthchecks("https://hc-ping.com/0b1ce5b5-0000-4000-8000-000000000000");
 * if (notify.failure !== "https://hc-ping.com/0b1ce5b5-0000-4000-8000-000000000000/fail") {
 *   throw new Error("wrong failure URL");
 * }
 * ```
 */
export function healthchecks(pingUrl: string): NotifyInput {
  const base = pingUrl.replace(/\/+$/, "");
  return {
    start: `${base}/start`,
    success: base,
    failure: `${base}/fail`,
  };
}
