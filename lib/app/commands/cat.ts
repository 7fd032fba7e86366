/**
 * `cat`: one backup's `btrfs send` stream, its pipe stages undone, for
 * carrying elsewhere (`snap2s3 cat ... | ssh host btrfs receive /dst`). The
 * stream's first command is checked against the key before a byte is
 * written, and its SHA-256 against the manifest at the end: a mismatch fails
 * the command (exit 1), and a file given with `-o` is only created when
 * everything matched.
 *
 * @module
 */

import { dirname, join } from "node:path";
import type { Config, ConfigInput } from "../../core/config_types.ts";
import {
  MIN_UUID_PREFIX,
  SelectionError,
  summarizeRemote,
} from "../../core/restore_selection.ts";
import type { BackupInfo } from "../../core/types.ts";
import { readSendStreamHead } from "../../drivers/btrfs/send_stream.ts";
import { pipeThrough } from "../../drivers/pipe/pipeline.ts";
import { downloadStream } from "../../drivers/transfer/download.ts";
import { ensureRetrievable, type RetrievalOptions } from "../retrieval.ts";
import type { Output } from "../output.ts";
import { commandContext } from "./_context.ts";
import { withListing } from "../remotes.ts";
import {
  configuredStages,
  undoCommands,
  type UndoOptions,
} from "../undo_pipe.ts";

/** Options of {@linkcode cat}. */
export interface CatOptions extends UndoOptions {
  /** Remote id. */
  remote: string;
  /** The backup: its snapshot uuid (or a unique prefix of 8+ hex digits), or its `.seqn0` key. */
  uuid: string;
  /** Where messages go; they never go to the stream's destination (default: kept in memory). */
  output?: Output;
  /** Check the SHA-256 against the manifest (default true). */
  verify?: boolean;
  /** An archived backup: tier, days, and whether to wait for it (default: ask, then exit 75). */
  retrieval?: RetrievalOptions;
}

/** Outcome of {@linkcode cat}. */
export interface CatResult {
  /** The backup's `.seqn0` key. */
  key: string;
  /** Bytes written (the send stream). */
  bytes: number;
  /** Whether the stored bytes were checked against a manifest. */
  verified: boolean;
}

/**
 * Writes one backup's send stream into `sink` (closed at the end unless
 * `preventClose`).
 *
 * @param configInput The config (remotes, pipe stages); a config without sources works.
 * @param options Which backup; see {@linkcode CatOptions}.
 * @param sink Where the stream goes.
 * @returns The key, the bytes written, and whether they were checked.
 * @throws {SelectionError} For an unknown, ambiguous or malformed uuid.
 */
export async function cat(
  configInput: Config | ConfigInput,
  options: CatOptions,
  sink: WritableStream<Uint8Array>,
  pipeOptions: { preventClose?: boolean } = {},
): Promise<CatResult> {
  const { config, out } = commandContext(configInput, options);
  return await withListing(config, options.remote, async (remote, listing) => {
    const b = _find(listing.backups, options, config.timezone);
    const undo = undoCommands(
      b,
      configuredStages(config, options.remote, b.name),
      options,
    );
    await ensureRetrievable(remote, [b], options.retrieval ?? {}, out);
    let verified = true;
    const dl = await downloadStream(remote, b.keys, {
      verify: options.verify ?? true,
      onUnverified: (why) => {
        verified = false;
        out.error(`warning: not checksum-verified: ${why}`);
      },
    });
    const { stream } = await readSendStreamHead(
      pipeThrough(dl.stream, undo),
      {
        label: `backup ${b.keys[0]}`,
        expect: {
          uuid: b.uuid,
          ctransid: b.ctransid,
          parentUuid: b.sendParentUuid,
        },
      },
    );
    let bytes = 0;
    await stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          bytes += chunk.length;
          c.enqueue(chunk);
        },
      }),
    ).pipeTo(sink, { preventClose: pipeOptions.preventClose });
    out.error(
      `wrote ${b.keys[0]}: ${bytes} bytes${
        verified ? ", sha256 verified" : ""
      }`,
    );
    return { key: b.keys[0], bytes, verified };
  });
}

/**
 * Writes the stream into `path` through a temporary file beside it, renamed
 * into place only when the whole stream was written and checked.
 */
export async function catToFile(
  configInput: Config | ConfigInput,
  options: CatOptions,
  path: string,
): Promise<CatResult> {
  const tmp = join(dirname(path), `.${crypto.randomUUID()}.snap2s3-partial`);
  const file = await Deno.open(tmp, { write: true, createNew: true });
  try {
    const r = await cat(configInput, options, file.writable);
    await Deno.rename(tmp, path);
    return r;
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function _find(
  backups: readonly BackupInfo[],
  options: CatOptions,
  timeZone: string,
): BackupInfo {
  const byKey = backups.find((b) => b.keys[0] === options.uuid);
  if (byKey) return byKey;
  const hex = options.uuid.toLowerCase().replaceAll("-", "");
  if (!/^[0-9a-f]{8,32}$/.test(hex)) {
    throw new SelectionError(
      "bad-input",
      `${
        JSON.stringify(options.uuid)
      } is neither a backup key nor a snapshot uuid (or a prefix of at least ${MIN_UUID_PREFIX} hex digits)`,
    );
  }
  const hits = backups.filter((b) =>
    b.uuid.replaceAll("-", "").startsWith(hex)
  );
  if (hits.length === 0) {
    throw new SelectionError(
      "not-found",
      `no backup of snapshot ${options.uuid} in remote ${options.remote}; ${
        summarizeRemote({ remote: options.remote, backups, timeZone })
      }`,
    );
  }
  if (hits.length > 1) {
    throw new SelectionError(
      "ambiguous",
      `${options.uuid} matches ${hits.length} backups: ${
        hits.map((h) => h.keys[0]).join(", ")
      }; give more digits or the key`,
    );
  }
  return hits[0];
}
