/**
 * The journal of an upload in progress, so that a run killed mid-upload can
 * be resumed: which multipart upload each object went into, and each part's
 * offset, size, own digest and receipt, recorded as soon as the store has it.
 * A later upload of the same key with the same fingerprint (send parent, pipe
 * stages) and the same part schedule re-reads the stream and sends only the
 * parts whose digest differs or that the store lacks.
 *
 * The file is a line of JSON per record, appended as the upload goes; a line
 * cut short by a crash is ignored. It is removed when the upload completes or
 * is undone.
 *
 * @module
 */

import type { PartReceipt } from "../remote/remote.ts";

/** What identifies an upload that may be resumed: same key, same bytes, same part boundaries. */
export interface JournalHeader {
  /** The remote's id. */
  remote: string;
  /** The `.seqn0` key. */
  key: string;
  /** The caller's fingerprint of what produces the stream (send parent, pipe stages). */
  fingerprint: string;
  /** The part schedule: first part size, growth cap, equal parts, object size. */
  schedule: string;
  /** The digest recorded per part. */
  digest: "md5" | "sha256";
}

/** One part the store has, as recorded. */
export interface JournalPart {
  /** Byte offset in its object. */
  offset: number;
  /** Bytes. */
  size: number;
  /** Base64 digest of the part's bytes (the header's `digest`). */
  digest: string;
  /** What the store said. */
  receipt: PartReceipt;
}

/** What a journal holds. */
export interface JournalRecord {
  /** The upload it is about. */
  header: JournalHeader;
  /** Upload id of each object's multipart upload, by object key. */
  objects: Map<string, string>;
  /** Recorded parts by object key, then part number (the last record wins). */
  parts: Map<string, Map<number, JournalPart>>;
}

/** Where an upload records its progress. */
export interface UploadJournal {
  /** What an earlier upload recorded, or null. */
  read(): Promise<JournalRecord | null>;
  /** Starts recording an upload, dropping what was recorded. */
  start(header: JournalHeader): Promise<void>;
  /** Records that `objectKey` goes into multipart upload `id`. */
  object(objectKey: string, id: string): Promise<void>;
  /** Records a part the store has. */
  part(objectKey: string, part: JournalPart): Promise<void>;
  /** Forgets the upload (completed or undone). */
  clear(): Promise<void>;
}

/**
 * A journal in a file (created on `start`, removed on `clear`).
 *
 * @param path The file, e.g. beside the source's lock.
 * @returns The journal.
 */
export function fileJournal(path: string): UploadJournal {
  // Appends are serialised, so lines never interleave.
  let queue: Promise<void> = Promise.resolve();
  const append = (record: object): Promise<void> => {
    const line = JSON.stringify(record) + "\n";
    queue = queue.then(() =>
      Deno.writeTextFile(path, line, { append: true, create: true })
    );
    return queue;
  };
  return {
    read: () => readJournal(path),
    async start(header) {
      await queue.catch(() => {});
      await Deno.writeTextFile(path, JSON.stringify({ header }) + "\n");
    },
    object: (objectKey, id) => append({ object: objectKey, id }),
    part: (objectKey, part) => append({ object: objectKey, part }),
    async clear() {
      await queue.catch(() => {});
      await Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    },
  };
}

/**
 * Reads a journal file; null when it is missing or does not start with a header.
 *
 * @param path The file.
 * @returns What it records.
 */
export async function readJournal(path: string): Promise<JournalRecord | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let record: JournalRecord | null = null;
  for (const line of text.split("\n")) {
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      continue; // empty, or cut short by a crash
    }
    if (record === null) {
      if (!_isHeader(v?.header)) return null;
      record = { header: v.header, objects: new Map(), parts: new Map() };
      continue;
    }
    if (typeof v?.object !== "string") continue;
    if (typeof v.id === "string") {
      record.objects.set(v.object, v.id);
      record.parts.delete(v.object); // a new upload of the object starts over
    } else if (_isPart(v.part)) {
      let parts = record.parts.get(v.object);
      if (!parts) record.parts.set(v.object, parts = new Map());
      parts.set(v.part.receipt.partNumber, v.part);
    }
  }
  return record;
}

/** Whether two headers describe the same upload (so it can be resumed). */
export function sameUpload(a: JournalHeader, b: JournalHeader): boolean {
  return a.remote === b.remote && a.key === b.key &&
    a.fingerprint === b.fingerprint && a.schedule === b.schedule &&
    a.digest === b.digest;
}

function _isHeader(h: unknown): h is JournalHeader {
  const v = h as JournalHeader;
  return typeof v?.remote === "string" && typeof v.key === "string" &&
    typeof v.fingerprint === "string" && typeof v.schedule === "string" &&
    (v.digest === "md5" || v.digest === "sha256");
}

function _isPart(p: unknown): p is JournalPart {
  const v = p as JournalPart;
  return Number.isSafeInteger(v?.offset) && Number.isSafeInteger(v.size) &&
    typeof v.digest === "string" &&
    Number.isSafeInteger(v.receipt?.partNumber) &&
    typeof v.receipt.etag === "string" && Number.isSafeInteger(v.receipt.size);
}
