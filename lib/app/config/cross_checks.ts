/**
 * Checks between fields that the schema's shape cannot express: unique ids
 * and sources, uploads that name a defined remote, credentials given in
 * pairs (on the raw data, so they report alongside shape errors), and
 * remotes at the same place (on the validated config, whose endpoints are
 * derived).
 *
 * @module
 */

import { resolve } from "node:path";
import type { Config, Remote } from "../../core/config_types.ts";
import type { ConfigProblem } from "./error.ts";
import { valueAt } from "./issues.ts";

/** Checks between fields, run on the raw data so they report alongside shape errors. */
function _idProblems(data: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const remotes = valueAt(data, ["remotes"]);
  const ids: string[] = [];
  if (Array.isArray(remotes)) {
    remotes.forEach((remote, i) => {
      const id = valueAt(remote, ["id"]);
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
  const sources = valueAt(data, ["sources"]);
  if (!Array.isArray(sources)) return out;
  // By resolved path: "/src/data/" and "/src/data/." are "/src/data".
  const paths: (string | undefined)[] = [];
  sources.forEach((source, i) => {
    const path = valueAt(source, ["path"]);
    const resolved = typeof path === "string" && path.startsWith("/")
      ? resolve(path)
      : undefined;
    const first = resolved === undefined ? -1 : paths.indexOf(resolved);
    if (first >= 0) {
      out.push({
        path: ["sources", i, "path"],
        message: `source ${
          JSON.stringify(path)
        } is the same path as sources[${first}]; list each subvolume once, with several uploads if needed`,
      });
    }
    paths.push(resolved);
    const uploads = valueAt(source, ["upload"]);
    if (!Array.isArray(uploads) || !Array.isArray(remotes)) return;
    const used: string[] = [];
    uploads.forEach((upload, j) => {
      const id = valueAt(upload, ["remote"]);
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

/** Checks between fields of one remote that the shape cannot express; on raw data, like `_idProblems`. */
function _credentialProblems(data: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const remotes = valueAt(data, ["remotes"]);
  if (!Array.isArray(remotes)) return out;
  remotes.forEach((remote, i) => {
    if (valueAt(remote, ["kind"]) === "local") return;
    const key = valueAt(remote, ["accessKeyId"]) !== undefined;
    const secret = valueAt(remote, ["secretAccessKey"]) !== undefined;
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
    const memory = valueAt(remote, ["memoryMiB"]);
    const part = valueAt(remote, ["partSizeMiB"]);
    const concurrency = valueAt(remote, ["concurrency"]);
    if (
      typeof memory === "number" &&
      typeof part === "number" && typeof concurrency === "number" &&
      part * (concurrency + 1) > memory
    ) {
      out.push({
        path: ["remotes", i, "memoryMiB"],
        message: `${memory} MiB cannot hold ${
          concurrency + 1
        } parts of ${part} MiB (concurrency + the one being read); raise memoryMiB to ${
          part * (concurrency + 1)
        }, or lower partSizeMiB or concurrency`,
      });
    } else if (
      typeof memory === "number" && typeof part === "number" &&
      2 * part > memory
    ) {
      out.push({
        path: ["remotes", i, "memoryMiB"],
        message:
          `${memory} MiB cannot hold two parts of ${part} MiB (one sent, one read); raise memoryMiB to ${
            2 * part
          }, or lower partSizeMiB`,
      });
    }
    if (
      valueAt(remote, ["verifyTls"]) === false &&
      valueAt(remote, ["caBundle"]) !== undefined
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
 * Every problem between fields of a config. Internal to lib/app/config.
 *
 * @param data The raw config data, valid or not.
 * @returns The problems, in the order of the fields.
 */
export function crossFieldProblems(data: unknown): ConfigProblem[] {
  return [..._idProblems(data), ..._credentialProblems(data)];
}

/** Where a remote keeps its objects: a directory, or an endpoint and bucket; plus the key prefix within. */
function _place(remote: Remote): { where: string; prefix: string } {
  if (remote.kind === "local") {
    return { where: "local", prefix: `${resolve(remote.path)}/` };
  }
  // The scheme and a trailing slash do not make another server; no endpoint is AWS, whose bucket names are global.
  let server = "aws";
  if (remote.endpoint !== undefined) {
    const url = new URL(remote.endpoint);
    server = `${url.host}${url.pathname.replace(/\/+$/, "")}`;
  }
  return { where: `${server} ${remote.bucket}`, prefix: remote.prefix ?? "" };
}

function _describePlace(remote: Remote): string {
  if (remote.kind === "local") {
    return `directory ${JSON.stringify(remote.path)}`;
  }
  const prefix = remote.prefix
    ? ` prefix ${JSON.stringify(remote.prefix)}`
    : "";
  return `bucket ${JSON.stringify(remote.bucket)}${prefix}`;
}

/**
 * Remotes at the same place, or one inside another (a directory below the
 * other's, a prefix that extends the other's): each would list the other's
 * backups as its own and delete them by its own policy. Internal to
 * lib/app/config.
 *
 * @param config A config that passed the schema.
 * @returns One problem per remote that shares a place with an earlier one.
 */
export function remotePlaceProblems(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const places = config.remotes.map(_place);
  places.forEach((p, i) => {
    const j = places.findIndex((q, k) =>
      k < i && q.where === p.where &&
      (q.prefix.startsWith(p.prefix) || p.prefix.startsWith(q.prefix))
    );
    if (j < 0) return;
    const [a, b] = [config.remotes[i], config.remotes[j]];
    const same = places[j].prefix === p.prefix;
    out.push({
      path: ["remotes", i, a.kind === "local" ? "path" : "prefix"],
      message: `${_describePlace(a)} ${
        same ? "is the same place as" : "overlaps"
      } remotes[${j}] (${JSON.stringify(b.id)}, ${
        _describePlace(b)
      }): each would take the other's backups for its own; give every remote its own ${
        a.kind === "local"
          ? "directory, not one inside another"
          : "prefix, not one that starts another"
      }`,
    });
  });
  return out;
}
