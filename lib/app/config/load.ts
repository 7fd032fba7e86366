/**
 * Loading a config file: a TypeScript/JavaScript module whose default export
 * is the config, or a btrfs2s3 YAML file.
 *
 * @module
 */

import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Config } from "../../core/config_types.ts";
import { ConfigError } from "./error.ts";
import { checkConfigFile } from "./file.ts";
import { validateConfig } from "./validate.ts";
import { loadYamlConfig } from "./yaml.ts";

const _MODULE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"];
const _YAML_EXTENSIONS = [".yaml", ".yml"];

/**
 * Loads and validates a config file. `.ts`, `.mts`, `.js` and `.mjs` files
 * are imported and their default export validated; `.yaml` and `.yml` files
 * are read as btrfs2s3 configs.
 *
 * @param path The config file.
 * @returns The validated config.
 * @throws {ConfigError} Every line of the message starts with `path`.
 *
 * @example Load a config file
 * ```ts
 * import { loadConfig } from "../../../mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const file = `${dir}/snap2s3.config.ts`;
 * await Deno.writeTextFile(
 *   file,
 *   `export default {
 *     timezone: "UTC",
 *     sources: [],
 *     remotes: [{ kind: "local", id: "usb", path: "/mnt/usb" }],
 *   };`,
 * );
 * const config = await loadConfig(file);
 * if (config.remotes[0].id !== "usb") throw new Error("remote lost");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadConfig(path: string): Promise<Config> {
  const ext = extname(path).toLowerCase();
  if (_YAML_EXTENSIONS.includes(ext)) return await loadYamlConfig(path);
  if (!_MODULE_EXTENSIONS.includes(ext)) {
    throw new ConfigError([{
      path: [],
      message: `unknown config file type ${
        JSON.stringify(ext || "(none)")
      }; use .ts, .mts, .js or .mjs (export default defineConfig({...})) or .yaml/.yml (btrfs2s3 format)`,
    }], path);
  }
  const absolute = resolve(path);
  const mtime = (await checkConfigFile(path)).mtime?.getTime() ?? 0;
  // The query makes a changed file load anew (a long-running daemon reloads it);
  // import() caches by URL.
  const url = `${pathToFileURL(absolute).href}?mtime=${mtime}`;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new ConfigError([{
      path: [],
      message: `cannot load the config module: ${_firstLine(e)}`,
    }], path);
  }
  if (mod.default === undefined) {
    throw new ConfigError([{
      path: [],
      message:
        `has no default export; end it with export default defineConfig({...})`,
    }], path);
  }
  try {
    return validateConfig(mod.default);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.problems, path);
    throw e;
  }
}

/**
 * The gist of an import error on one line: its first line and where it
 * happened. Deno adds the offending source line below, which may hold a
 * credential, so that is left out.
 */
function _firstLine(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split("\n");
  const at = lines.slice(1).find((l) => /^\s*at \S/.test(l));
  // The import URL's cache-busting query means nothing to the user.
  const place = at?.trim().replace(/\?mtime=\d+/, "");
  return place === undefined ? lines[0] : `${lines[0]} ${place}`;
}
