/**
 * The one schema of a snap2s3 config, in zod. The TypeScript types in
 * lib/core/config_types.ts are checked against what it infers
 * (types_match.ts: `z.input` for what users write, `z.output` for what the
 * program uses), so the types and the validation cannot drift apart.
 * Everything is plain data with `kind` tags: validation never relies on
 * `instanceof`, because a user's config file may be loaded in another module
 * graph. Checks between fields are in cross_checks.ts.
 *
 * @module
 */

import { z } from "./_zod.ts";
import { parsePolicy } from "../../core/policy/grammar.ts";
import { METADATA_CODES } from "../../core/keys.ts";
import { timeZoneProblem } from "../../core/zone.ts";
import { parseRate, RATE_FORM } from "../../core/rate.ts";
import { b2Endpoint, r2Endpoint } from "../../drivers/remote/providers.ts";
import { strictConfigObject } from "./issues.ts";

// ---------------------------------------------------------------------------
// Field helpers

function _nonEmpty(what: string) {
  return z.string().min(1, { error: `must not be empty (${what})` });
}

function _absolutePath(what: string) {
  return z.string().refine((p) => p.startsWith("/"), {
    error: (iss) =>
      `must be an absolute path (${what}), got ${JSON.stringify(iss.input)}`,
  });
}

function _int(min: number, max: number, what: string) {
  return z.number().refine(
    (n) => Number.isInteger(n) && n >= min && n <= max,
    {
      error: (iss) =>
        `must be an integer from ${min} to ${max} (${what}), got ${iss.input}`,
    },
  );
}

// ---------------------------------------------------------------------------
// Policy check

/** The policy module's parser decides; this only turns its error into a problem line. */
function _policyProblem(policy: string): string | null {
  try {
    parsePolicy(policy);
    return null;
  } catch (e) {
    const token = (e as { token?: unknown }).token;
    const message = e instanceof Error ? e.message : String(e);
    return typeof token === "string" && token !== ""
      ? `bad policy token ${JSON.stringify(token)}: ${message}`
      : message;
  }
}

// ---------------------------------------------------------------------------
// Pipe stages

const _zstdStage = strictConfigObject({
  kind: z.literal("zstd"),
  /** Compression level, 1-22 (20-22 use `--ultra`). Default: zstd's own (3). */
  level: _int(1, 22, "zstd level").optional(),
});

const _gzipStage = strictConfigObject({
  kind: z.literal("gzip"),
  /** Compression level, 1-9. Default: gzip's own (6). */
  level: _int(1, 9, "gzip level").optional(),
});

const _ageRecipient = z.string().refine(
  (r) =>
    /^age1[0-9a-z]+$/.test(r) ||
    /^ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( \S.*)?$/.test(r),
  {
    error: (iss) =>
      `not an age recipient: ${
        JSON.stringify(iss.input)
      }; expected "age1..." (from age-keygen -y) or an "ssh-ed25519 ..." / "ssh-rsa ..." public key`,
  },
);

const _ageStage = strictConfigObject({
  kind: z.literal("age"),
  /** Public keys the backups are encrypted to. */
  recipients: z.array(_ageRecipient).min(1, {
    error: "must list at least one recipient (age1...)",
  }),
  /** Identity (private key) file restore decrypts with. */
  identityFile: _absolutePath("the age identity file").optional(),
});

const _gpgStage = strictConfigObject({
  kind: z.literal("gpg"),
  /** Key id, fingerprint or email of the key backups are encrypted to. */
  recipient: _nonEmpty("a gpg key id, fingerprint or email"),
});

const _argv = (what: string) =>
  z.array(z.string()).min(1, {
    error: `must not be empty: give the program and its arguments (${what})`,
  }).refine((a) => a[0] !== "", {
    error: `the program name (first element) must not be empty (${what})`,
  });

const _cmdStage = strictConfigObject({
  kind: z.literal("cmd"),
  /** Program and arguments; reads stdin, writes stdout. */
  argv: _argv("the command"),
  /** Program that undoes `argv`, used by restore. */
  inverse: _argv("the inverse command").optional(),
  /** Key suffix for backups piped through this command (none by default, like btrfs2s3). */
  suffix: z.string().refine(
    (s) =>
      /^[A-Za-z0-9_-]+$/.test(s) &&
      !METADATA_CODES.includes(s.slice(0, 4)),
    {
      error: (iss) =>
        `bad key suffix ${
          JSON.stringify(iss.input)
        }: use letters, digits, "_" or "-" (no dots), not starting with a key metadata name (${
          METADATA_CODES.join(", ")
        })`,
    },
  ).optional(),
});

/** Schema of one pipe stage. */
export const pipeStageSchema = z.discriminatedUnion("kind", [
  _zstdStage,
  _gzipStage,
  _ageStage,
  _gpgStage,
  _cmdStage,
]);

// ---------------------------------------------------------------------------
// Remotes

/** An http(s) URL; `fix` says what to write instead of anything else. */
function _httpUrl(fix: string) {
  return z.string().refine((u) => {
    try {
      const url = new URL(u);
      return url.protocol === "https:" || url.protocol === "http:";
    } catch {
      return false;
    }
  }, {
    error: (iss) => `not an http(s) URL: ${JSON.stringify(iss.input)}; ${fix}`,
  });
}

const _endpoint = _httpUrl(
  'write the full URL, e.g. "https://s3.example.com"',
);

const _objectLock = strictConfigObject({
  /** GOVERNANCE (deletable with s3:BypassGovernanceRetention) or COMPLIANCE (by nobody). */
  mode: z.enum(["GOVERNANCE", "COMPLIANCE"]),
  /** Days added to each backup's planned expiry. */
  extraDays: _int(0, 36500, "days added to each planned expiry").optional(),
});

const _storageClass = _nonEmpty("an S3 storage class such as GLACIER");

/** A storage class per policy unit. */
const _storageClasses = strictConfigObject({
  y: _storageClass.optional(),
  q: _storageClass.optional(),
  m: _storageClass.optional(),
  w: _storageClass.optional(),
  d: _storageClass.optional(),
  h: _storageClass.optional(),
  M: _storageClass.optional(),
  s: _storageClass.optional(),
});

/** Fields every S3-compatible remote shares. */
const _s3Common = {
  id: _nonEmpty("the id uploads refer to"),
  bucket: _nonEmpty("the bucket name"),
  /** Key prefix, prepended verbatim to every key (e.g. `"laptop/"`). */
  prefix: z.string().refine((p) => !p.startsWith("/"), {
    error: `must not start with "/" (S3 keys are relative), e.g. "laptop/"`,
  }).optional(),
  /** Force path-style URLs (`endpoint/bucket/key`); default: the driver's choice. */
  pathStyle: z.boolean().optional(),
  /** Profile in ~/.aws/config and ~/.aws/credentials. */
  profile: _nonEmpty("an AWS profile name").optional(),
  accessKeyId: _nonEmpty("an access key id").optional(),
  secretAccessKey: _nonEmpty("a secret access key").optional(),
  /** Verify the endpoint's TLS certificate (default true). */
  verifyTls: z.boolean().default(true),
  /** PEM file of CA certificates to verify the endpoint with. */
  caBundle: _absolutePath("a PEM CA bundle").optional(),
  /** Storage class for new objects, unless an upload sets its own. */
  storageClass: _nonEmpty("an S3 storage class such as STANDARD_IA")
    .optional(),
  /** Multipart part size in MiB (5 MiB to 5 GiB). */
  partSizeMiB: _int(5, 5120, "part size in MiB").optional(),
  /** Parts uploaded at once. */
  concurrency: _int(1, 64, "parallel part uploads").optional(),
  /**
   * Most MiB of part buffers one upload or download holds (default 80);
   * sets the part size and concurrency not given.
   */
  memoryMiB: _int(10, 65536, "memory budget of part buffers in MiB")
    .optional(),
  /** Bandwidth limit of uploads and of downloads, each, e.g. `"20MiB/s"`. */
  bandwidth: z.string().refine((b) => parseRate(b) !== null, {
    error: (iss) =>
      `not a bandwidth: ${JSON.stringify(iss.input)}; expected ${RATE_FORM}`,
  }).optional(),
  /** Retain every object until its backup's planned expiry (S3 Object Lock). */
  objectLock: _objectLock.optional(),
};

const _s3Remote = strictConfigObject({
  kind: z.literal("s3"),
  ..._s3Common,
  region: _nonEmpty("an AWS region such as us-east-1").optional(),
  endpoint: _endpoint.optional(),
});

const _localRemote = strictConfigObject({
  kind: z.literal("local"),
  id: _nonEmpty("the id uploads refer to"),
  /** Directory the backup objects are files in. */
  path: _absolutePath("the backup directory"),
});

const _r2Remote = strictConfigObject({
  kind: z.literal("r2"),
  ..._s3Common,
  /** Cloudflare account id (32 hex digits), from the R2 dashboard. */
  accountId: z.string().refine((a) => /^[0-9a-f]{32}$/.test(a), {
    error: (iss) =>
      `not a Cloudflare account id: ${
        JSON.stringify(iss.input)
      }; expected 32 lowercase hex digits, as shown in the R2 dashboard`,
  }),
  region: _nonEmpty("the R2 region, normally auto").default("auto"),
  /** Override, e.g. the EU jurisdiction endpoint; derived from accountId by default. */
  endpoint: _endpoint.optional(),
}).transform((r) => ({
  ...r,
  endpoint: r.endpoint ?? r2Endpoint(r.accountId),
}));

const _b2Remote = strictConfigObject({
  kind: z.literal("b2"),
  ..._s3Common,
  /** B2 region, the middle of the bucket's S3 endpoint, e.g. `us-west-004`. */
  region: z.string({
    error: (iss) =>
      iss.input === undefined
        ? `required: the B2 region, e.g. "us-west-004" (from the bucket's endpoint s3.<region>.backblazeb2.com)`
        : undefined,
  }).refine((r) => /^[a-z]+-[a-z]+-\d{3}$/.test(r), {
    error: (iss) =>
      `not a B2 region: ${
        JSON.stringify(iss.input)
      }; expected e.g. "us-west-004" (from the bucket's endpoint s3.<region>.backblazeb2.com)`,
  }),
  /** Override; derived from region by default. */
  endpoint: _endpoint.optional(),
}).transform((r) => ({
  ...r,
  endpoint: r.endpoint ?? b2Endpoint(r.region),
}));

/** Schema of one remote. */
export const remoteSchema = z.discriminatedUnion("kind", [
  _s3Remote,
  _r2Remote,
  _b2Remote,
  _localRemote,
]);

// ---------------------------------------------------------------------------
// Sources and the whole config

/** Schema of one upload of a source: a remote, a policy and a pipe. */
export const uploadSchema = strictConfigObject({
  /** Id of a remote in `remotes`. */
  remote: _nonEmpty("the id of a remote in remotes"),
  /** Preservation policy, e.g. `1y 3m 30d 24h` (POLICY.md). */
  preserve: z.string().check((ctx) => {
    const problem = _policyProblem(ctx.value);
    if (problem) {
      ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
    }
  }),
  /** Stages the `btrfs send` stream is piped through, in order. */
  pipe: z.array(pipeStageSchema).default([]),
  /** Storage class for this source's backups in this remote. */
  storageClass: _nonEmpty("an S3 storage class such as STANDARD_IA")
    .optional(),
  /** Storage class by the longest timeframe a new backup is kept for. */
  storageClasses: _storageClasses.optional(),
});

const _btrfsSource = strictConfigObject({
  kind: z.literal("btrfs"),
  /** The subvolume to back up. */
  path: _absolutePath("the source subvolume"),
  /** Directory snap2s3 keeps this source's read-only snapshots in. */
  snapshots: _absolutePath("the snapshot directory"),
  upload: z.array(uploadSchema).min(1, {
    error:
      `must list at least one upload: a remote id and a policy such as "1y 3m 30d 24h"`,
  }),
});

/** Schema of one source. */
export const sourceSchema = z.discriminatedUnion("kind", [_btrfsSource]);

// ---------------------------------------------------------------------------
// Hooks and metrics

const _hookUrl = _httpUrl(
  `give a URL to POST the run's JSON summary to (e.g. "https://hc-ping.com/<uuid>"), or a command as an array (["/usr/local/bin/notify", "arg"])`,
);

/** Schema of one hook: a URL to POST the run's JSON summary to, or a command (argv) that reads it on stdin. */
export const notifyTargetSchema = z.union([
  _hookUrl,
  _argv("the hook command"),
], {
  error:
    'expected a URL ("https://...") or a command as an array of strings (["/usr/local/bin/notify", "arg"])',
});

/** Schema of `notify`: hooks run at the start of an update and after it succeeds or fails. */
export const notifySchema = strictConfigObject({
  /** Told when an update starts. */
  start: notifyTargetSchema.optional(),
  /** Told when an update succeeded (or had nothing to do). */
  success: notifyTargetSchema.optional(),
  /** Told when an update failed. */
  failure: notifyTargetSchema.optional(),
});

/** The config schema. Prefer `validateConfig` (validate.ts), which adds cross-field checks and readable errors. */
export const configSchema = strictConfigObject({
  /** IANA time zone all policy intervals are computed in; required, the system zone is never used. */
  timezone: z.string({
    error: (iss) =>
      iss.input === undefined
        ? `required: the IANA time zone policy intervals are computed in, e.g. "Europe/Berlin" or "UTC" (the system zone is never used)`
        : undefined,
  }).check((ctx) => {
    const problem = timeZoneProblem(ctx.value);
    if (problem) {
      ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
    }
  }),
  sources: z.array(sourceSchema),
  remotes: z.array(remoteSchema).min(1, {
    error: "must list at least one remote (an S3 bucket or a local directory)",
  }),
  /** Hooks told when an update starts, succeeds or fails. */
  notify: notifySchema.optional(),
  /** A Prometheus textfile (node_exporter's collector) rewritten after each update. */
  metricsFile: _absolutePath("the Prometheus metrics file").refine(
    (p) => p.endsWith(".prom"),
    {
      error:
        'must end in ".prom", the names node_exporter\'s textfile collector reads',
    },
  ).optional(),
});
