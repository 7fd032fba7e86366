/**
 * The version the command line reports: the package's, from `deno.json`.
 *
 * @module
 */

import denoJson from "../../../deno.json" with { type: "json" };

/** The package version, e.g. `0.1.0`. */
export const VERSION: string = denoJson.version;
