/**
 * Human-readable figures shared by the preview, the listing and the log.
 *
 * @module
 */

/** Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `12.0 GiB`. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Bytes in a mebibyte. */
export const MiB = 1024 * 1024;
