/**
 * Files and directories only their owner can read, whatever the umask:
 * backups hold a whole filesystem's contents, so a local-directory remote
 * creates its files 0600 and its directories 0700.
 *
 * @module
 */

import { isDirectory } from "../is_directory.ts";

/** Mode of every file a local remote creates. */
export const FILE_MODE = 0o600;

/** Mode of every directory a local remote creates. */
export const DIR_MODE = 0o700;

/**
 * Makes `dir` and any missing parent up to (not including) `root`, each
 * 0700; directories that exist keep their mode.
 */
export async function makePrivateDirs(
  root: string,
  dir: string,
): Promise<void> {
  if (dir === root || !dir.startsWith(`${root}/`)) return;
  if (await isDirectory(dir)) return;
  await makePrivateDirs(root, dir.slice(0, dir.lastIndexOf("/")));
  try {
    await Deno.mkdir(dir, { mode: DIR_MODE });
  } catch (e) {
    // A concurrent write made it: fine.
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    return;
  }
  // The umask may have taken bits away; say exactly what we mean.
  await Deno.chmod(dir, DIR_MODE);
}

/** Creates `path` (it must not exist) as an empty 0600 file. */
export async function createPrivateFile(path: string): Promise<void> {
  (await Deno.open(path, { write: true, createNew: true, mode: FILE_MODE }))
    .close();
  await Deno.chmod(path, FILE_MODE);
}
