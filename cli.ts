/**
 * The snap2s3 command line.
 *
 * @module
 */

/**
 * Runs the snap2s3 command line.
 *
 * @param args Command-line arguments, without the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  await Promise.resolve();
  console.error(`snap2s3: unknown command ${JSON.stringify(args[0] ?? "")}`);
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
