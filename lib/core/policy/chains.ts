/**
 * Send-parent chains: which backups can never be restored because their
 * chain is broken (an ancestor missing or incomplete, with no snapshot left
 * to upload it again from).
 *
 * @module
 */

import type { BackupInfo } from "../types.ts";

/**
 * The backups that can never be restored, with why: those whose send parent
 * has neither a snapshot (from which it could be uploaded again) nor a backup
 * that is itself restorable. Missing and incomplete parents look alike here:
 * an incomplete backup is not in the listing's backups.
 *
 * @param backups One remote's backups of a source.
 * @param snapshotUuids Uuids of the source's snapshots.
 * @returns Each broken backup with a reason naming where its chain breaks.
 */
export function brokenBackups(
  backups: readonly BackupInfo[],
  snapshotUuids: ReadonlySet<string>,
): Map<BackupInfo, string> {
  const byUuid = new Map<string, BackupInfo[]>();
  for (const b of backups) {
    const group = byUuid.get(b.uuid);
    if (group === undefined) byUuid.set(b.uuid, [b]);
    else group.push(b);
  }
  // Whether a uuid can serve as a send parent after this run; null while being decided.
  const usable = new Map<string, boolean | null>();
  const decide = (root: string): boolean => {
    const stack = [root];
    while (stack.length > 0) {
      const uuid = stack[stack.length - 1];
      const known = usable.get(uuid);
      if (known === true || known === false) {
        stack.pop();
        continue;
      }
      if (snapshotUuids.has(uuid)) {
        usable.set(uuid, true);
        stack.pop();
        continue;
      }
      const group = byUuid.get(uuid) ?? [];
      if (known === undefined) {
        usable.set(uuid, null);
        const open = group.flatMap((b) =>
          b.sendParentUuid !== null && !usable.has(b.sendParentUuid)
            ? [b.sendParentUuid]
            : []
        );
        if (open.length > 0) {
          stack.push(...open);
          continue;
        }
      }
      // A parent still undecided here is part of a send-parent cycle: not usable.
      usable.set(
        uuid,
        group.some((b) =>
          b.sendParentUuid === null || usable.get(b.sendParentUuid) === true
        ),
      );
      stack.pop();
    }
    return usable.get(root) === true;
  };
  const broken = new Map<BackupInfo, string>();
  for (const b of backups) {
    const parent = b.sendParentUuid;
    if (parent === null || decide(parent)) continue;
    broken.set(
      b,
      byUuid.has(parent)
        ? `it was sent against ${parent}, whose own chain is broken`
        : `it was sent against ${parent}, which has neither a complete backup nor a snapshot`,
    );
  }
  return broken;
}
