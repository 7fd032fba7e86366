/**
 * What object stores with object lock and archive classes (S3) offer beyond
 * plain objects: per-object retention, and archived objects that must be
 * retrieved before they can be read. A {@linkcode Remote} that has them
 * exposes them as its `cold` member.
 *
 * @module
 */

/** An object lock retention as the store holds it. */
export interface ObjectRetention {
  /** GOVERNANCE or COMPLIANCE. */
  mode: "GOVERNANCE" | "COMPLIANCE";
  /** Until when the object version may not be deleted or overwritten. */
  until: Date;
}

/** Where an object stands with respect to reading it. */
export interface ArchiveStatus {
  /** Bytes of the object. */
  size: number;
  /** Its storage class (absent: STANDARD). */
  storageClass?: string;
  /**
   * `none`: no retrieval was asked for (or the store does not report one);
   * `ongoing`: a retrieval is under way; `ready`: a retrieved copy can be read.
   */
  restore: "none" | "ongoing" | "ready";
  /** When a retrieved copy goes away again, when the store said. */
  restoreExpiry?: Date;
}

/** Retrieval speed of an archived object (AWS's tiers). */
export type RestoreTier = "Standard" | "Bulk" | "Expedited";

/** The object lock and archive operations of a store. Keys are relative to the remote's prefix. */
export interface ColdStorage {
  /** Whether the bucket has object lock enabled. */
  objectLockEnabled(): Promise<boolean>;
  /** The object's retention, or null when it has none. */
  getRetention(key: string): Promise<ObjectRetention | null>;
  /** Sets the object's retention (only ever later than it is). */
  setRetention(key: string, retention: ObjectRetention): Promise<void>;
  /** The object's class and retrieval status (a HEAD). */
  archiveStatus(key: string): Promise<ArchiveStatus>;
  /** Whether the object can be read now (a one-byte read; false when the store says it is archived). */
  readable(key: string): Promise<boolean>;
  /**
   * Asks for a retrieval of an archived object for `days` days:
   * `requested` (accepted now), `in-progress` (asked before and under way),
   * `ready` (already retrieved).
   */
  requestRestore(
    key: string,
    options: { days: number; tier: RestoreTier },
  ): Promise<"requested" | "in-progress" | "ready">;
}
