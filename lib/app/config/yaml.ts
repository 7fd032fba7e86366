/**
 * btrfs2s3's YAML config, read unchanged and mapped onto the snap2s3 config.
 * Errors name the YAML path (`sources[0].upload_to_remotes[0].id`), also for
 * problems found by the common validation.
 *
 * @module
 */

import {
  boolYaml11Tag,
  constructFromEvents,
  defineScalarTag,
  type Event as YamlEvent,
  EVENT_ID,
  NOT_RESOLVED,
  parseEvents,
  YAML11_SCHEMA,
} from "js-yaml";
import { resolve } from "node:path";
import type { Config } from "../../core/config_types.ts";
import { compact } from "./_compact.ts";
import { z } from "./_zod.ts";
import { ConfigError, type ConfigProblem } from "./error.ts";
import { MAX_CONFIG_BYTES, readConfigText, tooLargeError } from "./file.ts";
import { issuesToProblems, strictConfigObject } from "./issues.ts";
import { validateConfig } from "./validate.ts";

// PyYAML (btrfs2s3's loader) reads YAML 1.1 booleans as yes/no, true/false,
// on/off in three casings, but not y/n: `id: y` stays a string.
const _PYYAML_BOOLS = new Map<string, boolean>();
for (
  const [word, value] of Object.entries({
    yes: true,
    true: true,
    on: true,
    no: false,
    false: false,
    off: false,
  })
) {
  for (
    const form of [
      word,
      word[0].toUpperCase() + word.slice(1),
      word.toUpperCase(),
    ]
  ) {
    _PYYAML_BOOLS.set(form, value);
  }
}

const _SCHEMA = YAML11_SCHEMA.withTags(
  defineScalarTag<boolean>(boolYaml11Tag.tagName, {
    implicit: true,
    resolve: (source) => _PYYAML_BOOLS.get(source) ?? NOT_RESOLVED,
    identify: (data) => typeof data === "boolean",
  }),
);

// Only the structure is checked here; leaves copied as they are (z.unknown) are
// checked by the common schema, and their errors mapped back to YAML paths.
const _endpointYaml = strictConfigObject({
  profile_name: z.unknown().optional(),
  region_name: z.unknown().optional(),
  aws_access_key_id: z.unknown().optional(),
  aws_secret_access_key: z.unknown().optional(),
  endpoint_url: z.unknown().optional(),
  verify: z.union([z.boolean(), z.string().min(1)], {
    error:
      "expected true, false, or the path of a CA bundle (PEM file) to verify the endpoint with",
  }).optional(),
  // btrfs2s3's reference config shows it; S3 has one API version, so it changes nothing.
  api_version: z.unknown().optional(),
});

// snap2s3's own additions: S3 Object Lock on a remote.
const _objectLockYaml = strictConfigObject({
  mode: z.unknown().optional(),
  extra_days: z.unknown().optional(),
});

const _remoteYaml = strictConfigObject({
  id: z.unknown().optional(),
  // snap2s3's own: btrfs2s3 has no bandwidth limit.
  bandwidth: z.unknown().optional(),
  // snap2s3's own: btrfs2s3 buffers parts in temp files.
  memory_mib: z.unknown().optional(),
  s3: strictConfigObject({
    bucket: z.unknown().optional(),
    endpoint: _endpointYaml.optional(),
    object_lock: _objectLockYaml.optional(),
  }),
});

const _uploadYaml = strictConfigObject({
  id: z.unknown().optional(),
  preserve: z.unknown().optional(),
  pipe_through: z.array(z.array(z.string())).optional(),
  // snap2s3's own addition: a storage class per policy unit.
  storage_classes: z.unknown().optional(),
});

const _sourceYaml = strictConfigObject({
  path: z.unknown().optional(),
  snapshots: z.unknown().optional(),
  upload_to_remotes: z.array(_uploadYaml),
});

// snap2s3's own additions (btrfs2s3 has neither); leaves checked by the common schema.
const _notifyYaml = strictConfigObject({
  start: z.unknown().optional(),
  success: z.unknown().optional(),
  failure: z.unknown().optional(),
});

const _configYaml = strictConfigObject({
  timezone: z.unknown().optional(),
  sources: z.array(_sourceYaml),
  remotes: z.array(_remoteYaml),
  notify: _notifyYaml.optional(),
  metrics_file: z.unknown().optional(),
});

type _ConfigYaml = z.output<typeof _configYaml>;

/** The snap2s3 config the YAML means; not yet validated. */
function _toInput(y: _ConfigYaml): unknown {
  return compact({
    timezone: y.timezone,
    notify: y.notify && compact({ ...y.notify }),
    metricsFile: y.metrics_file,
    sources: y.sources.map((s) => ({
      kind: "btrfs" as const,
      path: s.path,
      snapshots: s.snapshots,
      upload: s.upload_to_remotes.map((u) =>
        compact({
          remote: u.id,
          preserve: u.preserve,
          // btrfs2s3 adds no key suffix for pipe_through; plain cmd stages keep that.
          pipe: u.pipe_through?.map((argv) => ({ kind: "cmd" as const, argv })),
          storageClasses: u.storage_classes,
        })
      ),
    })),
    remotes: y.remotes.map((r) => {
      const ep: Partial<z.output<typeof _endpointYaml>> = r.s3.endpoint ?? {};
      return compact({
        kind: "s3" as const,
        id: r.id,
        bucket: r.s3.bucket,
        region: ep.region_name,
        endpoint: ep.endpoint_url,
        profile: ep.profile_name,
        accessKeyId: ep.aws_access_key_id,
        secretAccessKey: ep.aws_secret_access_key,
        verifyTls: typeof ep.verify === "boolean" ? ep.verify : undefined,
        // Like btrfs2s3 (botocore), a relative CA bundle path is relative to the working directory.
        caBundle: typeof ep.verify === "string"
          ? resolve(ep.verify)
          : undefined,
        bandwidth: r.bandwidth,
        memoryMiB: r.memory_mib,
        objectLock: r.s3.object_lock &&
          compact({
            mode: r.s3.object_lock.mode,
            extraDays: r.s3.object_lock.extra_days,
          }),
      });
    }),
  });
}

const _REMOTE_FIELD: Record<string, (string | number)[]> = {
  bucket: ["s3", "bucket"],
  region: ["s3", "endpoint", "region_name"],
  endpoint: ["s3", "endpoint", "endpoint_url"],
  profile: ["s3", "endpoint", "profile_name"],
  accessKeyId: ["s3", "endpoint", "aws_access_key_id"],
  secretAccessKey: ["s3", "endpoint", "aws_secret_access_key"],
  verifyTls: ["s3", "endpoint", "verify"],
  caBundle: ["s3", "endpoint", "verify"],
  objectLock: ["s3", "object_lock"],
  memoryMiB: ["memory_mib"],
};

const _OBJECT_LOCK_FIELD: Record<string, string> = {
  extraDays: "extra_days",
};

/** Maps a path in the snap2s3 config back to the YAML field it came from. */
function _yamlPath(path: (string | number)[]): (string | number)[] {
  const [top, i, field, j, sub, k, ...rest] = path;
  if (top === "metricsFile") return ["metrics_file", ...path.slice(1)];
  if (top === "remotes" && field === "objectLock") {
    const rest = path.slice(3);
    if (typeof rest[0] === "string") {
      rest[0] = _OBJECT_LOCK_FIELD[rest[0]] ?? rest[0];
    }
    return ["remotes", i, "s3", "object_lock", ...rest];
  }
  if (top === "remotes" && typeof field === "string") {
    return [
      "remotes",
      i,
      ...(_REMOTE_FIELD[field] ?? [field]),
      ...path.slice(3),
    ];
  }
  if (top === "sources" && field === "upload") {
    const upload: (string | number)[] = ["sources", i, "upload_to_remotes"];
    if (j === undefined) return upload;
    if (sub === "remote") return [...upload, j, "id"];
    if (sub === "storageClasses") {
      return [...upload, j, "storage_classes", ...path.slice(5)];
    }
    if (sub === "pipe") {
      // A cmd stage is the argv list itself in YAML.
      const stage = [...upload, j, "pipe_through"];
      if (k === undefined) return stage;
      return rest[0] === "argv"
        ? [...stage, k, ...rest.slice(1)]
        : [...stage, k];
    }
    return [...upload, ...path.slice(3)];
  }
  return path;
}

/**
 * Converts a parsed btrfs2s3 YAML document into a validated config.
 *
 * @param data The YAML document as data (from a YAML 1.1 loader, like btrfs2s3's).
 * @param file The config file, prefixed to every error line.
 * @returns The validated config.
 * @throws {ConfigError} With one line per problem, naming the YAML path.
 */
export function configFromBtrfs2s3(data: unknown, file?: string): Config {
  const shape = _configYaml.safeParse(data);
  if (!shape.success) {
    throw new ConfigError(issuesToProblems(shape.error.issues, data), file);
  }
  try {
    return validateConfig(_toInput(shape.data));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const problems: ConfigProblem[] = e.problems.map((p) => ({
      path: _yamlPath(p.path),
      message: p.message,
    }));
    throw new ConfigError(problems, file);
  }
}

/** `line L, column C` (1-based) of a character offset in `text`. */
function _where(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${column}`;
}

/**
 * The first anchor (`&name`) or alias (`*name`) among parser events, or
 * null. Both are refused: btrfs2s3 configs have no use for them, and aliases
 * of aliases expand exponentially (an 88 KB "billion laughs" file exhausts
 * memory), so the check runs on the flat event list, before anything is
 * built. The parser reads quoting, so `"&x"` in a string is not an anchor.
 */
function _anchorProblem(text: string, events: YamlEvent[]): string | null {
  for (const ev of events) {
    if (!("anchorStart" in ev) || ev.anchorStart < 0) continue;
    const name = text.slice(ev.anchorStart, ev.anchorEnd);
    const what = ev.type === EVENT_ID.ALIAS
      ? `alias *${name}`
      : `anchor &${name}`;
    // anchorStart is the name's first character, after the & or *.
    return `YAML ${what} at ${
      _where(text, ev.anchorStart - 1)
    }: anchors and aliases are not accepted in a config; write the value out in full`;
  }
  return null;
}

/** The YAML syntax error of js-yaml as one problem line. */
function _syntaxProblem(e: unknown): string {
  const err = e as {
    reason?: string;
    mark?: { line: number; column: number };
  };
  const where = err.mark
    ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}`
    : "";
  return `not valid YAML${where}: ${err.reason ?? String(e)}`;
}

/**
 * Parses btrfs2s3 YAML text into a validated config. YAML 1.1 rules apply
 * as in btrfs2s3's PyYAML (`verify: no` is false, `id: y` a string); a
 * duplicated key is an error, and so are anchors, aliases and a text over
 * 1 MiB.
 *
 * @param text The YAML text.
 * @param file The config file, prefixed to every error line.
 * @returns The validated config.
 * @throws {ConfigError} On YAML syntax errors and invalid configs.
 */
export function parseBtrfs2s3Yaml(text: string, file?: string): Config {
  if (
    text.length > MAX_CONFIG_BYTES ||
    new TextEncoder().encode(text).length > MAX_CONFIG_BYTES
  ) {
    throw tooLargeError(file);
  }
  let docs: unknown[];
  try {
    const events = parseEvents(text, { filename: file });
    const problem = _anchorProblem(text, events);
    if (problem !== null) {
      throw new ConfigError([{ path: [], message: problem }], file);
    }
    docs = constructFromEvents(events, {
      source: text,
      schema: _SCHEMA,
      filename: file,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([{ path: [], message: _syntaxProblem(e) }], file);
  }
  if (docs.length !== 1) {
    throw new ConfigError([{
      path: [],
      message: docs.length === 0
        ? "is empty; a btrfs2s3 config has timezone, sources and remotes"
        : `holds ${docs.length} YAML documents; a config is one document (remove the --- lines between them)`,
    }], file);
  }
  return configFromBtrfs2s3(docs[0], file);
}

/**
 * Reads a btrfs2s3 YAML config file (at most 1 MiB).
 *
 * @param path The file.
 * @returns The validated config.
 * @throws {ConfigError} Lines start with `path`.
 */
export async function loadYamlConfig(path: string): Promise<Config> {
  return parseBtrfs2s3Yaml(await readConfigText(path), path);
}
