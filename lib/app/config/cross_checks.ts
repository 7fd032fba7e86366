/**
 * Checks between fields that the schema's shape cannot express: unique ids
 * and sources, uploads that name a defined remote, credentials given in
 * pairs. They run on the raw data, so they report alongside shape errors.
 *
 * @module
 */

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
  const paths: string[] = [];
  sources.forEach((source, i) => {
    const path = valueAt(source, ["path"]);
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
