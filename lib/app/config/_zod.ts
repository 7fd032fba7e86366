/**
 * The one import of zod, the schema library the config is validated with.
 *
 * @module
 */

export { z } from "zod";
