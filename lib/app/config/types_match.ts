/**
 * The compile-time proof that the config types written out in
 * lib/core/config_types.ts are exactly what the schema infers: a change to
 * one without the other fails `deno check`. Nothing here runs.
 *
 * @module
 */

import type { z } from "./_zod.ts";
import type {
  configSchema,
  notifySchema,
  pipeStageSchema,
  remoteSchema,
  sourceSchema,
  uploadSchema,
} from "./schema.ts";
import type {
  Config,
  ConfigInput,
  Notify,
  NotifyInput,
  PipeStage,
  PipeStageInput,
  Remote,
  RemoteInput,
  Source,
  SourceInput,
  SourceUpload,
  SourceUploadInput,
} from "../../core/config_types.ts";

/** True when A and B are the same type (not merely assignable). */
type _Same<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;

/** Whether `Out` is what schema `S` returns and `In` what it accepts. */
type _Matches<Out, In, S extends z.ZodType> = [
  _Same<Out, z.output<S>>,
  _Same<In, z.input<S>>,
];

/** Fails to compile unless every check is true; the error names the position. */
type _All<T extends true[]> = T;

/**
 * The checks. A union is the same type only when each of its kinds is, so
 * the remote and pipe stage lines cover every kind.
 */
export type _TypesMatchSchema = _All<[
  ..._Matches<Config, ConfigInput, typeof configSchema>,
  ..._Matches<Source, SourceInput, typeof sourceSchema>,
  ..._Matches<SourceUpload, SourceUploadInput, typeof uploadSchema>,
  ..._Matches<Remote, RemoteInput, typeof remoteSchema>,
  ..._Matches<PipeStage, PipeStageInput, typeof pipeStageSchema>,
  ..._Matches<Notify, NotifyInput, typeof notifySchema>,
]>;
