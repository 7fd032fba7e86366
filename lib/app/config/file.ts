/**
 * The checks every config file passes before it is parsed: a regular file
 * no larger than {@linkcode MAX_CONFIG_BYTES}. A config is a page of
 * settings; anything much larger is a mistake or an attack, and parsing it
 * could exhaust memory.
 *
 * @module
 */

import { ConfigError } from "./error.ts";

/** The largest config file read: 1 MiB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The error for a config over the limit.
 *
 * @param file The config file, when there is one.
 * @param bytes Its size, when known.
 * @returns The error to throw.
 */
export function tooLargeError(file?: string, bytes?: number): ConfigError {
  const size = bytes === undefined ? "" : ` (${bytes} bytes)`;
  return new ConfigError([{
    path: [],
    message:
      `is larger than the limit of 1 MiB for a config file${size}; a config lists sources and remotes, so check that this is the right file`,
  }], file);
}

/**
 * Throws unless `path` is a readable regular file of at most
 * {@linkcode MAX_CONFIG_BYTES}.
 *
 * @param path The config file.
 * @returns Its file info.
 * @throws {ConfigError} Naming the file and the problem.
 */
export async function checkConfigFile(path: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new ConfigError([{
      path: [],
      message: `cannot read the config file: ${(e as Error).message}`,
    }], path);
  }
  if (!info.isFile) {
    throw new ConfigError([{
      path: [],
      message: "is not a regular file; give the path of the config file",
    }], path);
  }
  if (info.size > MAX_CONFIG_BYTES) throw tooLargeError(path, info.size);
  return info;
}

/**
 * Reads a config file as text, refusing one that is not a regular file or
 * is over the limit (also when it grows while being read).
 *
 * @param path The config file.
 * @returns Its text.
 * @throws {ConfigError} Naming the file and the problem.
 */
export async function readConfigText(path: string): Promise<string> {
  await checkConfigFile(path);
  let bytes: Uint8Array;
  try {
    using file = await Deno.open(path, { read: true });
    const buf = new Uint8Array(MAX_CONFIG_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n > MAX_CONFIG_BYTES) throw tooLargeError(path);
    bytes = buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([{
      path: [],
      message: `cannot read the config file: ${(e as Error).message}`,
    }], path);
  }
  return new TextDecoder().decode(bytes);
}
