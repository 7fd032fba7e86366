/**
 * Pipe stages as commands: what a backup stream is piped through on upload
 * (forward), what undoes it on restore (inverse), and the key suffix that
 * lets restore find the inverse from a key alone.
 *
 * @module
 */

import type { PipeStage } from "../../core/config_types.ts";
import { joinShellWords } from "../../core/shell_words.ts";

/** Options for finding inverse commands. */
export interface InverseOptions {
  /** age identity file to decrypt with; overrides the stage's `identityFile`. */
  ageIdentityFile?: string;
  /** age identity files to decrypt with (age tries each); override the stage's `identityFile`. */
  ageIdentityFiles?: readonly string[];
  /**
   * The configured stages, if known: their cmd stages with a `suffix` make
   * that suffix known, and an age stage's `identityFile` is used.
   */
  stages?: readonly PipeStage[];
}

/** Key suffixes snap2s3 undoes by itself. */
export const KNOWN_SUFFIXES: readonly string[] = ["zst", "gz", "age", "gpg"];

const _ZSTD_DECOMPRESS = ["zstd", "-q", "-d", "-c"];
const _GZIP_DECOMPRESS = ["gzip", "-d", "-c"];
// --batch: restore runs unattended; gpg-agent still asks for a passphrase via pinentry.
const _GPG_DECRYPT = ["gpg", "--batch", "--quiet", "--decrypt"];

function _ageDecrypt(identities: readonly string[], program = "age"): string[] {
  return [
    program,
    "--decrypt",
    ...identities.flatMap((i) => ["--identity", i]),
  ];
}

/** The identity files given, else `fallback`'s; undefined when there are none. */
function _identities(
  options: { ageIdentityFile?: string; ageIdentityFiles?: readonly string[] },
  fallback?: string,
): readonly string[] | undefined {
  const given = [
    ...(options.ageIdentityFile === undefined ? [] : [options.ageIdentityFile]),
    ...(options.ageIdentityFiles ?? []),
  ];
  if (given.length) return given;
  return fallback === undefined ? undefined : [fallback];
}

function _noIdentity(): Error {
  return new Error(
    "cannot decrypt age-encrypted backups without an identity: set identityFile in the age stage of the config, or pass the identity (private key) file to restore with --identity FILE",
  );
}

/**
 * The command a stage runs on upload.
 *
 * @param stage A validated pipe stage.
 * @returns The program and its arguments; it reads stdin and writes stdout.
 */
export function stageArgv(stage: PipeStage): string[] {
  switch (stage.kind) {
    case "zstd": {
      const level = stage.level === undefined ? [] : [`-${stage.level}`];
      const ultra = (stage.level ?? 0) > 19 ? ["--ultra"] : [];
      return ["zstd", "-q", "-c", "-T0", ...ultra, ...level];
    }
    case "gzip":
      return [
        "gzip",
        "-c",
        ...(stage.level === undefined ? [] : [`-${stage.level}`]),
      ];
    case "age":
      return [
        "age",
        "--encrypt",
        ...stage.recipients.flatMap((r) => ["--recipient", r]),
      ];
    case "gpg":
      // The recipient is named explicitly in the config: trust it without a web-of-trust signature,
      // or unattended runs fail on keys that were only imported.
      return [
        "gpg",
        "--batch",
        "--quiet",
        "--trust-model",
        "always",
        "--encrypt",
        "--recipient",
        stage.recipient,
      ];
    case "cmd":
      return [...stage.argv];
  }
}

/**
 * The key suffix backups piped through a stage get.
 *
 * @param stage A validated pipe stage.
 * @returns `zst`, `gz`, `age`, `gpg`, a cmd stage's `suffix`, or null (a cmd stage without one, as btrfs2s3).
 */
export function stageSuffix(stage: PipeStage): string | null {
  switch (stage.kind) {
    case "zstd":
      return "zst";
    case "gzip":
      return "gz";
    case "age":
      return "age";
    case "gpg":
      return "gpg";
    case "cmd":
      return stage.suffix ?? null;
  }
}

/**
 * The key suffixes of a pipeline, in the order the stages run.
 *
 * @param stages The configured stages.
 * @returns E.g. `["zst", "age"]` for zstd then age.
 */
export function keySuffixes(stages: readonly PipeStage[]): string[] {
  return stages.map(stageSuffix).filter((s): s is string => s !== null);
}

function _hasFlag(argv: readonly string[], ...flags: string[]): boolean {
  return argv.slice(1).some((a) => flags.includes(a));
}

function _flagValue(
  argv: readonly string[],
  ...flags: string[]
): string | null {
  for (let i = 1; i < argv.length; i++) {
    for (const flag of flags) {
      if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
      if (flag.startsWith("--") && argv[i].startsWith(`${flag}=`)) {
        return argv[i].slice(flag.length + 1);
      }
    }
  }
  return null;
}

/**
 * The inverse of a command that is recognisably zstd, gzip/pigz, gpg or age
 * encoding (btrfs2s3 configs pipe through plain commands); null otherwise.
 */
function _recognisedInverse(
  argv: readonly string[],
  ageIdentityFiles: readonly string[] | undefined,
): string[] | null {
  const program = argv[0].split("/").pop() ?? "";
  switch (program) {
    case "zstd":
    case "zstdmt":
    case "pzstd": {
      if (_hasFlag(argv, "-d", "--decompress", "--uncompress")) return null;
      // A long-distance window must be given again to decompress.
      const long = argv.slice(1).filter((a) => a.startsWith("--long"));
      return [..._ZSTD_DECOMPRESS, ...long];
    }
    case "gzip":
    case "pigz":
      if (_hasFlag(argv, "-d", "--decompress", "--uncompress")) return null;
      return [program, "-d", "-c"];
    case "gpg":
    case "gpg2": {
      if (_hasFlag(argv, "-d", "--decrypt")) return null;
      if (!_hasFlag(argv, "-e", "--encrypt", "-c", "--symmetric")) return null;
      const home = _flagValue(argv, "--homedir");
      return [
        program,
        ...(home === null ? [] : ["--homedir", home]),
        ..._GPG_DECRYPT.slice(1),
      ];
    }
    case "age":
    case "rage": {
      if (_hasFlag(argv, "-d", "--decrypt")) return null;
      // `age -e -i KEY` encrypts to KEY's recipient, so KEY also decrypts.
      const own = _flagValue(argv, "-i", "--identity");
      const identities = ageIdentityFiles ?? (own === null ? null : [own]);
      if (identities === null) throw _noIdentity();
      return _ageDecrypt(identities, program);
    }
  }
  return null;
}

/**
 * The command that undoes a stage on restore.
 *
 * @param stage A validated pipe stage.
 * @param options `ageIdentityFile` to decrypt age with (else the stage's `identityFile`).
 * @returns The program and its arguments.
 * @throws {Error} For age without an identity, and a cmd stage without `inverse` that is not recognisably zstd, gzip, gpg or age.
 */
export function stageInverseArgv(
  stage: PipeStage,
  options: { ageIdentityFile?: string; ageIdentityFiles?: readonly string[] } =
    {},
): string[] {
  switch (stage.kind) {
    case "zstd":
      return [..._ZSTD_DECOMPRESS];
    case "gzip":
      return [..._GZIP_DECOMPRESS];
    case "age": {
      const identities = _identities(options, stage.identityFile);
      if (identities === undefined) throw _noIdentity();
      return _ageDecrypt(identities);
    }
    case "gpg":
      return [..._GPG_DECRYPT];
    case "cmd": {
      if (stage.inverse) return [...stage.inverse];
      const guess = _recognisedInverse(stage.argv, _identities(options));
      if (guess) return guess;
      throw new Error(
        `pipe stage \`${
          joinShellWords(stage.argv)
        }\` has no inverse, so restore cannot undo it: set inverse in the config (cmd(argv, { inverse: [...] })), or pass the inverse commands to restore with --pipe-through`,
      );
    }
  }
}

/**
 * The forward commands of a pipeline, in order.
 *
 * @param stages The configured stages.
 * @returns One argv per stage, for `pipeThrough`.
 */
export function forwardArgvs(stages: readonly PipeStage[]): string[][] {
  return stages.map(stageArgv);
}

/**
 * The commands that undo a configured pipeline: inverses in reverse order.
 *
 * @param stages The configured stages.
 * @param options `ageIdentityFile` to decrypt age with.
 * @returns One argv per stage, for `pipeThrough`.
 * @throws {Error} When a stage cannot be undone (see {@linkcode stageInverseArgv}).
 */
export function inverseArgvs(
  stages: readonly PipeStage[],
  options: { ageIdentityFile?: string; ageIdentityFiles?: readonly string[] } =
    {},
): string[][] {
  return stages.toReversed().map((s) => stageInverseArgv(s, options));
}

/**
 * The commands that undo a backup, found from its key's suffixes alone:
 * `["zst", "age"]` (zstd, then age) gives age decryption, then zstd
 * decompression.
 *
 * @param suffixes The key's non-metadata suffixes, in key order.
 * @param options `ageIdentityFile`; `stages` (the configured pipeline) makes custom cmd suffixes known.
 * @returns One argv per suffix, in the order to run them.
 * @throws {Error} On a suffix it cannot undo (suggesting `--pipe-through`), or age without an identity.
 */
export function inverseFromSuffixes(
  suffixes: readonly string[],
  options: InverseOptions = {},
): string[][] {
  const configured = options.stages ?? [];
  const ageStage = configured.find((s) => s.kind === "age");
  const identities = _identities(
    options,
    ageStage?.kind === "age" ? ageStage.identityFile : undefined,
  );
  const custom = new Map<string, PipeStage>();
  for (const stage of configured) {
    if (stage.kind === "cmd" && stage.suffix !== undefined) {
      custom.set(stage.suffix, stage);
    }
  }
  return suffixes.toReversed().map((suffix) => {
    const stage = custom.get(suffix);
    if (stage) return stageInverseArgv(stage, { ageIdentityFiles: identities });
    switch (suffix) {
      case "zst":
        return [..._ZSTD_DECOMPRESS];
      case "gz":
        return [..._GZIP_DECOMPRESS];
      case "age":
        if (identities === undefined) throw _noIdentity();
        return _ageDecrypt(identities);
      case "gpg":
        return [..._GPG_DECRYPT];
    }
    const known = [...KNOWN_SUFFIXES, ...custom.keys()].join(", ");
    throw new Error(
      `backup key suffix ".${suffix}" is not one snap2s3 knows how to undo (known: ${known}); pass the commands that undo it to restore with --pipe-through (e.g. --pipe-through "xz -d" for .xz), or add a cmd stage with suffix "${suffix}" and an inverse to the config`,
    );
  });
}
