/**
 * Why here: the anti-replay vocabulary (how a device's nonces are checked, what a device row
 * keeps, why a nonce is refused) is shared by the device model, the storage ports, the ingest
 * rule (`model/replay-window.ts`), the settings and every adapter. Kept at the bottom of the
 * source tree, with no imports, so none of them has to depend on another to name it.
 */

/** How a device's nonces are checked: strictly increasing, or a sliding window below the highest. */
export type ReplayMode = { kind: 'strict' } | { kind: 'window'; size: number };

/** What `parseReplayMode` accepts, as its error messages say it. */
export const REPLAY_MODE_EXPECTED = 'expected "strict" or "window:N" with N from 1 to 1024';

/** Thrown by `parseReplayMode`; the message names the value's source. */
export class ReplayModeError extends Error {}

/** `strict`, or `window:N` (also `window=N`, `windowN`) with N from 1 to 1024, any case; else `undefined`. */
export function readReplayMode(raw: string | number | boolean): ReplayMode | undefined {
  const s = String(raw).trim().toLowerCase();
  if (s === 'strict') return { kind: 'strict' };
  const m = /^window[:=]?(\d+)$/.exec(s);
  if (m) {
    const size = Number(m[1]);
    if (size >= 1 && size <= 1024) return { kind: 'window', size };
  }
  return undefined;
}

/** As `readReplayMode`, for a value that must be valid (a stored column): throws `ReplayModeError`. */
export function parseReplayMode(raw: string | number | boolean, name: string): ReplayMode {
  const mode = readReplayMode(raw);
  if (!mode) throw new ReplayModeError(`Invalid setting ${name}: ${REPLAY_MODE_EXPECTED}`);
  return mode;
}

/** The stored text of a mode, as `parseReplayMode` reads it back. */
export function replayModeToString(mode: ReplayMode): string {
  return mode.kind === 'strict' ? 'strict' : `window:${mode.size}`;
}

/**
 * A device's anti-replay state. `seen` bit i set ⇔ nonce `high − 1 − i` was accepted (RFC
 * 6479-style sliding window below the highest accepted nonce).
 */
export interface ReplayState {
  /** Highest accepted nonce; `null` = not armed yet (next authentic nonce is accepted). */
  readonly high: number | null;
  readonly seen: bigint;
}

export type ReplayRejection = 'duplicate' | 'too_old' | 'counter_reset_suspected';

export type ReplayDecision =
  | { readonly accept: true; readonly next: ReplayState; readonly gap: number }
  | { readonly accept: false; readonly reason: ReplayRejection };
