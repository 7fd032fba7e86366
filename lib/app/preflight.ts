/**
 * Checks made before an update changes anything: every program it will
 * start is on PATH and allowed by `--allow-run`, it may snapshot (root's
 * CAP_SYS_ADMIN), FFI is allowed, and each remote is there: a local
 * directory exists, an S3 endpoint answers. Each problem is one line with
 * its fix; any problem stops the run before a snapshot exists (exit 2).
 *
 * @module
 */

import { join } from "node:path";
import type { Config, Remote } from "../core/config_types.ts";
import { processPrivilege } from "../drivers/btrfs/driver.ts";
import { stageArgv } from "../drivers/pipe/stages.ts";
import { permissionHint } from "./permission_hint.ts";
import { PreflightError, type PreflightProblem } from "./preflight_error.ts";

export { PreflightError, type PreflightProblem };

/** Options of {@linkcode preflight}. */
export interface PreflightOptions {
  /** Only what planning needs (FFI, the remotes): no program is started, nothing snapshotted. */
  pretend?: boolean;
  /** Attempts per S3 endpoint (default 3). */
  attempts?: number;
  /** How long one attempt may wait for an answer, in ms (default 3,000). */
  timeoutMs?: number;
}

/**
 * Checks that an update of `config` can run, before it changes anything.
 *
 * @param config A validated config.
 * @param options See {@linkcode PreflightOptions}.
 * @throws {PreflightError} Listing every problem with its fix.
 */
export async function preflight(
  config: Config,
  options: PreflightOptions = {},
): Promise<void> {
  const problems: PreflightProblem[] = [];
  const ffi = (await Deno.permissions.query({ name: "ffi" })).state ===
    "granted";
  if (!ffi && config.sources.length) {
    problems.push({
      kind: "permission",
      message:
        "reading btrfs subvolume metadata needs FFI: use --allow-ffi without a value (a scoped --allow-ffi=libc.so.6 is taken as a path, which libc is not loaded from)",
    });
  }
  if (!options.pretend && config.sources.length) {
    problems.push(...await _programProblems(config));
    const p = ffi ? processPrivilege() : null;
    // Root without CAP_SYS_ADMIN (a container, a capability-dropping unit) cannot snapshot either.
    if (p && !p.sysAdmin) {
      problems.push({
        kind: "privilege",
        message:
          `snapshotting, sending and deleting snapshots need root (CAP_SYS_ADMIN), which this process ${
            p.euid === 0
              ? "lacks although it runs as root"
              : `(uid ${p.euid}) lacks`
          }: run it as root (e.g. with sudo), or with --pretend to only see the plan`,
      });
    }
  }
  const used = new Set(
    config.sources.flatMap((s) => s.upload.map((u) => u.remote)),
  );
  const remotes = config.remotes.filter((r) => used.has(r.id));
  const found = await Promise.all(
    remotes.map((r) =>
      _remoteProblem(
        r,
        config.remotes.indexOf(r),
        options.attempts ?? 3,
        options.timeoutMs ?? 3_000,
      )
    ),
  );
  for (const p of found) if (p) problems.push(p);
  if (problems.length) throw new PreflightError(problems);
}

/** Each program the run starts, where the config asks for it. */
function _programs(config: Config): Map<string, string> {
  const programs = new Map<string, string>([[
    "btrfs",
    "btrfs subvolume snapshot, send and delete",
  ]]);
  config.sources.forEach((s, i) =>
    s.upload.forEach((u, j) =>
      u.pipe.forEach((stage, k) => {
        const program = stageArgv(stage)[0];
        if (!programs.has(program)) {
          programs.set(program, `sources[${i}].upload[${j}].pipe[${k}]`);
        }
      })
    )
  );
  return programs;
}

async function _programProblems(config: Config): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const programs = _programs(config);
  const denied: string[] = [];
  for (const [program, where] of programs) {
    const state =
      (await Deno.permissions.query({ name: "run", command: program })).state;
    if (state !== "granted") {
      denied.push(program);
      continue;
    }
    if ((await _onPath(program)) === false) {
      problems.push({
        kind: "program",
        message: program === "btrfs"
          ? "btrfs is not on PATH: install btrfs-progs (e.g. apt-get install btrfs-progs)"
          : `${program} (${where}) is not on PATH: install it, or give its full path in the config`,
      });
    }
  }
  if (denied.length) {
    const allowed = [...programs.keys()];
    problems.unshift({
      kind: "permission",
      message: `running ${
        denied.map((p) => `${p} (${programs.get(p)})`).join(", ")
      } is not allowed: grant it with --allow-run=${allowed.join(",")}`,
    });
  }
  return problems;
}

/** Whether `program` is an executable on PATH (or at its path); null when this process may not look. */
async function _onPath(program: string): Promise<boolean | null> {
  const candidates: string[] = [];
  if (program.includes("/")) {
    candidates.push(program);
  } else {
    const env = await Deno.permissions.query({ name: "env", variable: "PATH" });
    if (env.state !== "granted") return null;
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      if (dir) candidates.push(join(dir, program));
    }
  }
  for (const path of candidates) {
    try {
      const st = await Deno.stat(path);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      // Not allowed to look (a scoped --allow-read): let the run tell.
      return null;
    }
  }
  return false;
}

async function _remoteProblem(
  remote: Remote,
  index: number,
  attempts: number,
  timeoutMs: number,
): Promise<PreflightProblem | null> {
  const field = `remotes[${index}]`;
  if (remote.kind === "local") {
    try {
      if ((await Deno.stat(remote.path)).isDirectory) return null;
      return {
        kind: "remote",
        message:
          `remote ${remote.id}: ${remote.path} is not a directory: fix ${field}.path`,
      };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        return {
          kind: "remote",
          message:
            `remote ${remote.id}: directory ${remote.path} does not exist: create it (is the disk mounted?) or fix ${field}.path`,
        };
      }
      const hint = permissionHint(e);
      return hint
        ? { kind: "permission", message: `remote ${remote.id}: ${hint}` }
        : null;
    }
  }
  const url = remote.endpoint ??
    (remote.region ? `https://s3.${remote.region}.amazonaws.com/` : null);
  // Without a region the endpoint comes from the profile: the first request tells.
  if (!url) return null;
  return await probeEndpoint(remote.id, url, `${field}.endpoint`, {
    attempts,
    timeoutMs,
  });
}

/**
 * The ports `fetch` refuses (the WHATWG Fetch standard's "bad ports"), which
 * Deno enforces before connecting: downloads run on `fetch`.
 */
const _FETCH_BLOCKED_PORTS = new Set([
  1,
  7,
  9,
  11,
  13,
  15,
  17,
  19,
  20,
  21,
  22,
  23,
  25,
  37,
  42,
  43,
  53,
  69,
  77,
  79,
  87,
  95,
  101,
  102,
  103,
  104,
  109,
  110,
  111,
  113,
  115,
  117,
  119,
  123,
  135,
  137,
  139,
  143,
  161,
  179,
  389,
  427,
  465,
  512,
  513,
  514,
  515,
  526,
  530,
  531,
  532,
  540,
  548,
  554,
  556,
  563,
  587,
  601,
  636,
  989,
  990,
  993,
  995,
  1719,
  1720,
  1723,
  2049,
  3659,
  4045,
  4190,
  5060,
  5061,
  6000,
  6566,
  6665,
  6666,
  6667,
  6668,
  6669,
  6679,
  6697,
  10080,
]);

/**
 * Whether an S3 endpoint is reachable at all: a TCP connection to its host
 * and port, so the check costs no request (and no bill) at the store.
 * Connection refused, an unknown host and silence are tried `attempts`
 * times; a port Deno's `fetch` refuses fails at once.
 *
 * @param id The remote's id, for the message.
 * @param url The endpoint.
 * @param field The config field to fix, for the message.
 * @param options Attempts and the timeout of each.
 * @returns A problem, or null when it answered.
 */
export async function probeEndpoint(
  id: string,
  url: string,
  field: string,
  options: { attempts: number; timeoutMs: number },
): Promise<PreflightProblem | null> {
  const u = new URL(url);
  const host = u.host;
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  if (_FETCH_BLOCKED_PORTS.has(port)) {
    return {
      kind: "remote",
      message:
        `remote ${id}: Deno refuses connections to port ${port} (one of the ports browsers block): serve the endpoint on another port and fix ${field}`,
    };
  }
  const hostname = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const started = performance.now();
  let last = "";
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    try {
      await _connectWithin(hostname, port, options.timeoutMs);
      return null;
    } catch (e) {
      const hint = permissionHint(e);
      if (hint) return { kind: "permission", message: `remote ${id}: ${hint}` };
      const text = _errorText(e);
      if (e instanceof Deno.errors.ConnectionRefused || /refused/i.test(text)) {
        last = `connection to ${host} refused`;
      } else if (
        /dns error|lookup address|Name or service not known|failed to lookup/i
          .test(text)
      ) {
        last = `unknown host ${u.hostname}`;
      } else if (e instanceof _Timeout) {
        last = `no answer from ${host} within ${options.timeoutMs / 1000} s`;
      } else {
        last = `cannot connect to ${host}: ${text}`;
      }
    }
    if (attempt < options.attempts) {
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  return {
    kind: "remote",
    message:
      `remote ${id}: ${last} (${options.attempts} attempts in ${secs} s): is the server up, and ${field} right?`,
  };
}

class _Timeout extends Error {}

/** Opens and closes a TCP connection, or fails within `timeoutMs`. */
async function _connectWithin(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const connecting = Deno.connect({ hostname, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const conn = await Promise.race([connecting, timeout]);
    if (conn) {
      conn.close();
      return;
    }
    // A connection that lands after the timeout is closed, not leaked.
    connecting.then((c) => c.close(), () => {});
    throw new _Timeout();
  } finally {
    clearTimeout(timer);
  }
}

function _errorText(e: unknown): string {
  const parts: string[] = [];
  for (let x = e; x instanceof Error && parts.length < 5; x = x.cause) {
    parts.push(x.message);
  }
  return parts.join(": ");
}
