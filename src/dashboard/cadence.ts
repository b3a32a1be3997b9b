/**
 * A device's link status from its upload cadence. Pure (no imports): the server and the web
 * dashboard share it, so a row turns late or offline in the browser without asking the server.
 */

export type LinkStatus = 'online' | 'late' | 'offline' | 'never';

/** The field firmware's upload timer, assumed until a device has shown its own cadence. */
export const DEFAULT_UPLOAD_INTERVAL_MS = 15_000;
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 24 * 3_600_000;

const clamp = (ms: number) => Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.round(ms)));

/**
 * The interval a device uploads at: the median of its recent intervals when known, else the
 * average since it was first seen, else the firmware default.
 */
export function expectedInterval(
  recentIntervals: readonly number[],
  history: { firstSeen: number | null; lastSeen: number | null; uploads: number },
): number {
  const usable = recentIntervals.filter((ms) => ms > 0).sort((a, b) => a - b);
  if (usable.length > 0) {
    const mid = Math.floor(usable.length / 2);
    const median = usable.length % 2 === 1 ? usable[mid] : (usable[mid - 1] + usable[mid]) / 2;
    return clamp(median);
  }
  const { firstSeen, lastSeen, uploads } = history;
  if (firstSeen !== null && lastSeen !== null && uploads >= 2 && lastSeen > firstSeen) {
    return clamp((lastSeen - firstSeen) / (uploads - 1));
  }
  return DEFAULT_UPLOAD_INTERVAL_MS;
}

/**
 * Online while the next upload is at most one interval overdue (plus a little slack for the
 * network), late until about five intervals were missed, offline after that.
 */
export function linkStatus(lastSeen: number | null, intervalMs: number, now: number): LinkStatus {
  if (lastSeen === null) return 'never';
  const age = now - lastSeen;
  if (age <= 2 * intervalMs + 5_000) return 'online';
  if (age <= 6 * intervalMs + 30_000) return 'late';
  return 'offline';
}
