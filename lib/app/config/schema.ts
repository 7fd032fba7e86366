/**
 * The one schema of a snap2s3 config. The TypeScript types are derived from
 * it (`z.input` for what users write, `z.output` for what the program uses),
 * so the types and the validation cannot drift apart. Everything is plain
 * data with `kind` tags: validation never relies on `instanceof`, because a
 * user's config file may be loaded in another module graph.
 *
 * @module
 */

import { z } from "zod";
import { parsePolicy } from "../../core/policy/grammar.ts";
import type {
  AgeStageInput,
  B2Remote,
  B2RemoteInput,
  CmdStageInput,
  Config,
  ConfigInput,
  GpgStageInput,
  GzipStageInput,
  LocalRemote,
  LocalRemoteInput,
  PipeStage,
  R2Remote,
  R2RemoteInput,
  S3Remote,
  S3RemoteInput,
  Source,
  SourceInput,
  SourceUpload,
  SourceUploadInput,
  ZstdStageInput,
} from "../../core/config_types.ts";

// ---------------------------------------------------------------------------
// Field helpers

/** Marks the JSON payload we put in unrecognized-key messages (see `strictConfigObject`). */
const _KEYS_MARK = "snap2s3-allowed-keys:";

/**
 * A strict object: an unknown field is an error. The allowed keys travel in
 * the issue message so {@linkcode issuesToProblems} can suggest the right
 * spelling. Internal to lib/config (the YAML schema uses it too).
 *
 * @param shape The fields.
 * @returns A zod object schema that rejects unknown fields.
 */
// deno-lint-ignore explicit-module-boundary-types
export function strictConfigObject<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? _KEYS_MARK + JSON.stringify(allowed)
        : undefined,
  });
}

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

const _PIPE_METADATA = /^(ctim|ctid|uuid|sndp|prnt|mdvn|seqn)/;

// ---------------------------------------------------------------------------
// Policy and time zone checks

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

function _timeZoneProblem(tz: string): string | null {
  const fix =
    `use an IANA zone name such as "Europe/Berlin", "America/Los_Angeles" or "UTC"`;
  if (tz === "") return `must not be empty; ${fix}`;
  if (/^[+-]/.test(tz)) {
    return `${JSON.stringify(tz)} is a UTC offset, not an IANA zone; ${fix}`;
  }
  try {
    Temporal.Now.zonedDateTimeISO(tz);
  } catch {
    return `unknown time zone ${JSON.stringify(tz)}; ${fix}`;
  }
  return null;
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
    (s) => /^[A-Za-z0-9_-]+$/.test(s) && !_PIPE_METADATA.test(s),
    {
      error: (iss) =>
        `bad key suffix ${
          JSON.stringify(iss.input)
        }: use letters, digits, "_" or "-" (no dots), not starting with a key metadata name (ctim, ctid, uuid, sndp, prnt, mdvn, seqn)`,
    },
  ).optional(),
});

const _KINDS_OF_STAGE = ["zstd", "gzip", "age", "gpg", "cmd"];

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

const _endpoint = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}, {
  error: (iss) =>
    `not an http(s) URL: ${
      JSON.stringify(iss.input)
    }; write the full URL, e.g. "https://s3.example.com"`,
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
};

const _s3Remote = strictConfigObject({
  kind: z.literal("s3"),
  ..._s3Common,
  region: _nonEmpty("an AWS region such as us-east-1").optional(),
  endpoint: _endpoint.optional(),
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
  endpoint: r.endpoint ?? `https://${r.accountId}.r2.cloudflarestorage.com`,
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
  endpoint: r.endpoint ?? `https://s3.${r.region}.backblazeb2.com`,
}));

const _localRemote = strictConfigObject({
  kind: z.literal("local"),
  id: _nonEmpty("the id uploads refer to"),
  /** Directory the backup objects are files in. */
  path: _absolutePath("the backup directory"),
});

const _KINDS_OF_REMOTE = ["s3", "r2", "b2", "local"];

/** Schema of one remote. */
export const remoteSchema = z.discriminatedUnion("kind", [
  _s3Remote,
  _r2Remote,
  _b2Remote,
  _localRemote,
]);

// ---------------------------------------------------------------------------
// Sources and the whole config

const _upload = strictConfigObject({
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
});

const _btrfsSource = strictConfigObject({
  kind: z.literal("btrfs"),
  /** The subvolume to back up. */
  path: _absolutePath("the source subvolume"),
  /** Directory snap2s3 keeps this source's read-only snapshots in. */
  snapshots: _absolutePath("the snapshot directory"),
  upload: z.array(_upload).min(1, {
    error:
      `must list at least one upload: a remote id and a policy such as "1y 3m 30d 24h"`,
  }),
});

const _KINDS_OF_SOURCE = ["btrfs"];

/** Schema of one source. */
export const sourceSchema = z.discriminatedUnion("kind", [_btrfsSource]);

/** The config schema. Prefer {@linkcode validateConfig}, which adds cross-field checks and readable errors. */
export const configSchema = strictConfigObject({
  /** IANA time zone all policy intervals are computed in; required, the system zone is never used. */
  timezone: z.string({
    error: (iss) =>
      iss.input === undefined
        ? `required: the IANA time zone policy intervals are computed in, e.g. "Europe/Berlin" or "UTC" (the system zone is never used)`
        : undefined,
  }).check((ctx) => {
    const problem = _timeZoneProblem(ctx.value);
    if (problem) {
      ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
    }
  }),
  sources: z.array(sourceSchema),
  remotes: z.array(remoteSchema).min(1, {
    error: "must list at least one remote (an S3 bucket or a local directory)",
  }),
});

// ---------------------------------------------------------------------------
// Types

export type {
  AgeStageInput,
  B2Remote,
  B2RemoteInput,
  BtrfsSource,
  BtrfsSourceInput,
  CmdStageInput,
  Config,
  ConfigInput,
  GpgStageInput,
  GzipStageInput,
  LocalRemote,
  LocalRemoteInput,
  PipeStage,
  PipeStageInput,
  R2Remote,
  R2RemoteInput,
  Remote,
  RemoteInput,
  S3CommonInput,
  S3Remote,
  S3RemoteInput,
  Source,
  SourceInput,
  SourceUpload,
  SourceUploadInput,
  ZstdStageInput,
} from "../../core/config_types.ts";

/** True when A and B are the same type (not merely assignable). */
type _Same<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;
type _Assert<T extends true> = T;

// The written-out types in types.ts must be exactly what the schema infers:
// a change to one without the other fails here.
type _Remote<K> = Extract<z.output<typeof remoteSchema>, { kind: K }>;
type _RemoteIn<K> = Extract<z.input<typeof remoteSchema>, { kind: K }>;
type _Stage<K> = Extract<z.output<typeof pipeStageSchema>, { kind: K }>;
type _StageIn<K> = Extract<z.input<typeof pipeStageSchema>, { kind: K }>;
export type _TypesMatchSchema = [
  _Assert<_Same<Config, z.output<typeof configSchema>>>,
  _Assert<_Same<ConfigInput, z.input<typeof configSchema>>>,
  _Assert<_Same<SourceUpload, z.output<typeof _upload>>>,
  _Assert<_Same<SourceUploadInput, z.input<typeof _upload>>>,
  _Assert<_Same<Source, z.output<typeof sourceSchema>>>,
  _Assert<_Same<SourceInput, z.input<typeof sourceSchema>>>,
  _Assert<_Same<S3Remote, _Remote<"s3">>>,
  _Assert<_Same<R2Remote, _Remote<"r2">>>,
  _Assert<_Same<B2Remote, _Remote<"b2">>>,
  _Assert<_Same<LocalRemote, _Remote<"local">>>,
  _Assert<_Same<S3RemoteInput, _RemoteIn<"s3">>>,
  _Assert<_Same<R2RemoteInput, _RemoteIn<"r2">>>,
  _Assert<_Same<B2RemoteInput, _RemoteIn<"b2">>>,
  _Assert<_Same<LocalRemoteInput, _RemoteIn<"local">>>,
  _Assert<_Same<ZstdStageInput, _Stage<"zstd">>>,
  _Assert<_Same<GzipStageInput, _Stage<"gzip">>>,
  _Assert<_Same<AgeStageInput, _Stage<"age">>>,
  _Assert<_Same<GpgStageInput, _Stage<"gpg">>>,
  _Assert<_Same<CmdStageInput, _Stage<"cmd">>>,
  _Assert<_Same<PipeStage, _StageIn<"zstd" | "gzip" | "age" | "gpg" | "cmd">>>,
];

// ---------------------------------------------------------------------------
// Errors

/** One thing wrong with a config: where, and what to do about it. */
export interface ConfigProblem {
  /** Path of the bad field, e.g. `["sources", 0, "upload", 1, "preserve"]`. */
  path: (string | number)[];
  /** What is wrong and how to fix it. */
  message: string;
}

/** Renders a field path the way users write it: `sources[0].upload[1].preserve` (`""` for the root). */
export function formatConfigPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) {
      out += out === "" ? part : `.${part}`;
    } else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/**
 * A config that fails validation. `message` has one line per problem,
 * `<field path>: <problem and fix>`, optionally prefixed by the file name.
 */
export class ConfigError extends Error {
  /** The problems, in the order found. */
  readonly problems: ConfigProblem[];
  /** The config file, when the config came from one. */
  readonly file?: string;

  /**
   * Builds the error; `message` has one line per problem.
   *
   * @param problems What is wrong (at least one).
   * @param file The config file, prefixed to every line of the message.
   */
  constructor(problems: ConfigProblem[], file?: string) {
    const lines = problems.map((p) =>
      [file, formatConfigPath(p.path), p.message].filter(Boolean).join(": ")
    );
    super(lines.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
    this.file = file;
  }
}

// ---------------------------------------------------------------------------
// Validation

function _at(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function _describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function _distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(
        row[j] + 1,
        row[j - 1] + 1,
        prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length];
}

function _suggest(key: string, allowed: string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    // A field named by a part of its name ("region" for "region_name") counts as close.
    const lower = [key.toLowerCase(), candidate.toLowerCase()];
    const d = lower[1].startsWith(lower[0]) || lower[0].startsWith(lower[1])
      ? 1
      : _distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, key.length / 3)
    ? ` (did you mean "${best}"?)`
    : "";
}

const _EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "an object",
};

function _kindsAt(path: readonly PropertyKey[]): string[] {
  if (path[0] === "remotes") return _KINDS_OF_REMOTE;
  if (path.includes("pipe")) return _KINDS_OF_STAGE;
  return _KINDS_OF_SOURCE;
}

/**
 * Turns zod issues into problems with readable messages. Internal to
 * lib/config.
 *
 * @param issues The issues of a failed parse.
 * @param data The data that was parsed, to show bad values.
 * @returns One problem per bad field.
 */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const iss of issues) {
    const path = iss.path.map((p) => typeof p === "symbol" ? String(p) : p);
    const value = _at(data, path);
    switch (iss.code) {
      case "unrecognized_keys": {
        let allowed: string[] = [];
        if (iss.message.startsWith(_KEYS_MARK)) {
          allowed = JSON.parse(iss.message.slice(_KEYS_MARK.length));
        }
        for (const key of iss.keys) {
          out.push({
            path: [...path, key],
            message: `unknown field${_suggest(key, allowed)}; allowed: ${
              allowed.join(", ")
            }`,
          });
        }
        break;
      }
      case "invalid_type":
        out.push({
          path,
          message: !iss.message.startsWith("Invalid input")
            ? iss.message
            : value === undefined
            ? `required (${_EXPECTED[iss.expected] ?? iss.expected})`
            : `expected ${_EXPECTED[iss.expected] ?? iss.expected}, got ${
              _describe(value)
            }`,
        });
        break;
      case "invalid_union": {
        if (!("discriminator" in iss)) {
          out.push({ path, message: iss.message });
          break;
        }
        const kinds = (iss as { options?: unknown[] }).options?.map(String) ??
          _kindsAt(path);
        const list = kinds.map((k) => JSON.stringify(k)).join(", ");
        out.push({
          path,
          message: value === undefined
            ? `required: one of ${list}`
            : `unknown kind ${JSON.stringify(value)}; expected one of ${list}`,
        });
        break;
      }
      case "invalid_value":
        out.push({
          path,
          message: `expected ${
            iss.values.map((v) => JSON.stringify(v)).join(" or ")
          }, got ${_describe(value)}`,
        });
        break;
      default:
        out.push({ path, message: iss.message });
    }
  }
  return out;
}

/** Checks between fields, run on the raw data so they report alongside shape errors. */
function _crossProblems(data: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const remotes = _at(data, ["remotes"]);
  const ids: string[] = [];
  if (Array.isArray(remotes)) {
    remotes.forEach((remote, i) => {
      const id = _at(remote, ["id"]);
      if (typeof id !== "string" || id === "") return;
      const first = ids.indexOf(id);
      if (first >= 0) {
        out.push({
          path: ["remotes", i, "id"],
          message: `duplicate remote id ${
            JSON.stringify(id)
          } (also remotes[${first}]); give every remote its own id`,
        });
      }
      ids.push(id);
    });
  }
  const defined = [...new Set(ids)];
  const sources = _at(data, ["sources"]);
  if (!Array.isArray(sources)) return out;
  const paths: string[] = [];
  sources.forEach((source, i) => {
    const path = _at(source, ["path"]);
    if (typeof path === "string" && path !== "") {
      const first = paths.indexOf(path);
      if (first >= 0) {
        out.push({
          path: ["sources", i, "path"],
          message: `source ${
            JSON.stringify(path)
          } is already sources[${first}]; list each subvolume once, with several uploads if needed`,
        });
      }
      paths.push(path);
    }
    const uploads = _at(source, ["upload"]);
    if (!Array.isArray(uploads) || !Array.isArray(remotes)) return;
    const used: string[] = [];
    uploads.forEach((upload, j) => {
      const id = _at(upload, ["remote"]);
      if (typeof id !== "string" || id === "") return;
      const here = ["sources", i, "upload", j, "remote"];
      if (!defined.includes(id)) {
        out.push({
          path: here,
          message: `unknown remote id ${JSON.stringify(id)}; defined: ${
            defined.length ? defined.join(", ") : "(none)"
          }`,
        });
      } else if (used.includes(id)) {
        out.push({
          path: here,
          message: `this source already uploads to remote ${
            JSON.stringify(id)
          } (upload[${
            used.indexOf(id)
          }]); one policy per source and remote: merge them`,
        });
      }
      used.push(id);
    });
  });
  return out;
}

/** Checks between fields of one remote that the shape cannot express; on raw data, like `_crossProblems`. */
function _remoteProblems(data: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const remotes = _at(data, ["remotes"]);
  if (!Array.isArray(remotes)) return out;
  remotes.forEach((remote, i) => {
    if (_at(remote, ["kind"]) === "local") return;
    const key = _at(remote, ["accessKeyId"]) !== undefined;
    const secret = _at(remote, ["secretAccessKey"]) !== undefined;
    if (key !== secret) {
      const [missing, present] = key
        ? ["secretAccessKey", "accessKeyId"]
        : ["accessKeyId", "secretAccessKey"];
      out.push({
        path: ["remotes", i, missing],
        message:
          `required when ${present} is set: give both keys, or neither (then the profile or the AWS_* environment is used)`,
      });
    }
    if (
      _at(remote, ["verifyTls"]) === false &&
      _at(remote, ["caBundle"]) !== undefined
    ) {
      out.push({
        path: ["remotes", i, "caBundle"],
        message: "has no effect with verifyTls: false; remove one of the two",
      });
    }
  });
  return out;
}

/**
 * Validates a config and fills in defaults.
 *
 * @param data A config as plain data, e.g. the default export of a config file.
 * @returns The validated config.
 * @throws {ConfigError} With one line per problem, naming the field path and the fix.
 *
 * @example Validate a config written as plain data
 * ```ts
 * import { validateConfig } from "../../../mod.ts";
 *
 * const config = validateConfig({
 *   timezone: "UTC",
 *   sources: [{
 *     kind: "btrfs",
 *     path: "/home",
 *     snapshots: "/snapshots",
 *     upload: [{ remote: "usb", preserve: "1y 3m 30d 24h" }],
 *   }],
 *   remotes: [{ kind: "local", id: "usb", path: "/mnt/usb/backups" }],
 * });
 * if (config.sources[0].upload[0].pipe.length !== 0) throw new Error("no default pipe");
 * ```
 */
export function validateConfig(data: unknown): Config {
  const result = configSchema.safeParse(data);
  const problems = result.success
    ? []
    : issuesToProblems(result.error.issues, data);
  problems.push(..._crossProblems(data), ..._remoteProblems(data));
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as Config;
}
