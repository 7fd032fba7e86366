/**
 * Lazy loader of the AWS SDK and its Node HTTP handler: importing them costs
 * about 130 ms, so only code that talks to S3 pays for it, once.
 *
 * @module
 */

import type {
  $Command,
  S3ClientResolvedConfig,
  ServiceInputTypes,
  ServiceOutputTypes,
} from "@aws-sdk/client-s3";

/** The `@aws-sdk/client-s3` module. */
export type S3Sdk = typeof import("@aws-sdk/client-s3");

/** The input of any S3 command. */
export type S3Input = ServiceInputTypes;

/** The answer of any S3 command. */
export type S3Output = ServiceOutputTypes;

/** A command of the S3 client whose input is `I` and whose answer is `O`. */
export type S3Command<I extends S3Input, O extends S3Output> = $Command<
  I,
  O,
  S3ClientResolvedConfig,
  ServiceInputTypes,
  ServiceOutputTypes
>;

/** The `@smithy/node-http-handler` module (the SDK's own Node handler). */
export type NodeHttpSdk = typeof import("@smithy/node-http-handler");

let _sdk: Promise<S3Sdk> | undefined;
let _node: Promise<NodeHttpSdk> | undefined;

/** Imports `@aws-sdk/client-s3` on first use. */
export function loadS3Sdk(): Promise<S3Sdk> {
  _sdk ??= import("@aws-sdk/client-s3");
  return _sdk;
}

/** Imports `@smithy/node-http-handler` on first use. */
export function loadNodeHttpSdk(): Promise<NodeHttpSdk> {
  _node ??= import("@smithy/node-http-handler");
  return _node;
}
