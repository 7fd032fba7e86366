/**
 * Lazy loader of the AWS SDK: importing it costs about 130 ms, so only code
 * that talks to S3 pays for it, once.
 *
 * @module
 */

/** The `@aws-sdk/client-s3` module. */
export type S3Sdk = typeof import("@aws-sdk/client-s3");

let _sdk: Promise<S3Sdk> | undefined;

/** Imports `@aws-sdk/client-s3` on first use. */
export function loadS3Sdk(): Promise<S3Sdk> {
  _sdk ??= import("@aws-sdk/client-s3");
  return _sdk;
}
