/**
 * Resuming an interrupted upload from its journal: whether the journal is
 * this upload's, and which parts of its open multipart upload the store
 * still holds as recorded.
 *
 * @module
 */

import type {
  MultipartUpload,
  Remote,
  RemoteLimits,
} from "../remote/remote.ts";
import {
  type JournalHeader,
  type JournalPart,
  type JournalRecord,
  sameUpload,
  type UploadJournal,
} from "./upload_journal.ts";

/**
 * Reads `journal`: the record of an upload with the same header is returned
 * to resume (recording goes on in it); any other is abandoned (its open
 * uploads aborted, since nothing could resume them) and recording starts
 * afresh with `header`.
 */
export async function openJournal(
  remote: Remote,
  journal: UploadJournal,
  header: JournalHeader,
): Promise<JournalRecord | null> {
  const prior = await journal.read();
  if (prior && sameUpload(prior.header, header)) return prior;
  if (prior?.header.remote === remote.id) {
    for (const [key, id] of prior.objects) {
      await remote.abortOpenUpload({ key, id }).catch(() => {});
    }
  }
  await journal.start(header);
  return null;
}

/**
 * The multipart upload of `objKey`: the interrupted one the journal names,
 * when the store still has it, with the parts known to be there (recorded,
 * and stored with the same size and ETag); else a new one, recorded.
 */
export async function startOrResume(
  remote: Remote,
  objKey: string,
  prior: JournalRecord | null,
  journal: UploadJournal | undefined,
  storageClass: string | undefined,
): Promise<
  { mp: MultipartUpload; have: Map<number, JournalPart>; resumed: boolean }
> {
  const have = new Map<number, JournalPart>();
  const id = prior?.objects.get(objKey);
  const resumed = id ? await remote.resumeUpload(objKey, id) : null;
  if (resumed) {
    const recorded = prior!.parts.get(objKey) ?? new Map();
    for (const s of resumed.stored) {
      const r = recorded.get(s.partNumber);
      if (r && r.size === s.size && r.receipt.etag === s.etag) {
        have.set(s.partNumber, r);
      }
    }
    return { mp: resumed, have, resumed: true };
  }
  const mp = await remote.createMultipartUpload(objKey, { storageClass });
  await journal?.object(objKey, mp.id);
  return { mp, have, resumed: false };
}

/** The part schedule as the journal records it: the same one places every part boundary the same. */
export function scheduleOf(
  first: number,
  limits: Pick<RemoteLimits, "maxPartSize" | "equalParts">,
  objMax: number,
): string {
  return JSON.stringify([first, limits.maxPartSize, limits.equalParts, objMax]);
}

/** Base64 of raw digest bytes, as the journal records them. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
