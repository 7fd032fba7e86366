/**
 * Whether a path is a directory, for the checks that run before anything is
 * written (a local remote's directory, a source's snapshot directory).
 *
 * @module
 */

/**
 * Whether `path` is a directory: false when nothing is there or it is not a
 * directory; any other error (a permission refused) is thrown, so that it
 * says itself.
 *
 * @param path The path to look at (a link is followed).
 * @returns Whether it is a directory.
 */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
