/**
 * Anti-replay decision for one device (PROTOCOL.md §10.4), pure so every store (SQLite row,
 * PostgreSQL row, Redis script) applies the same rule. `seen` bit i set ⇔ nonce `high − 1 − i`
 * was accepted (RFC 6479-style sliding window below the highest accepted nonce).
 */
import type { ReplayDecision, ReplayMode, ReplayState } from './replay.js';

export const UNARMED: ReplayState = Object.freeze({ high: null, seen: 0n });

export const MAX_WINDOW = 1024;
const ALL_SEEN = (1n << BigInt(MAX_WINDOW)) - 1n;

/** A state where `high` and everything below it count as used (a new or re-armed device). */
export function armedAt(high: number | null): ReplayState {
  return high === null ? UNARMED : { high, seen: ALL_SEEN };
}

export function checkReplay(
  state: ReplayState,
  nonce: number,
  mode: ReplayMode,
  counterResetThreshold: number,
): ReplayDecision {
  const { high } = state;
  if (high === null) return { accept: true, next: { high: nonce, seen: ALL_SEEN }, gap: 0 };
  if (nonce > high) {
    const shift = nonce - high;
    let seen = 0n;
    if (mode.kind === 'window' && shift < mode.size) {
      const mask = (1n << BigInt(mode.size)) - 1n;
      // The old high becomes bit (shift − 1); older bits move up with it.
      seen = ((state.seen << BigInt(shift)) | (1n << BigInt(shift - 1))) & mask;
    }
    return { accept: true, next: { high: nonce, seen }, gap: shift - 1 };
  }
  const behind = high - nonce;
  // A device whose flash was wiped restarts near its initial nonce: authentic, but it must be
  // re-armed by an administrator rather than accepted automatically.
  if (behind >= counterResetThreshold) return { accept: false, reason: 'counter_reset_suspected' };
  if (behind === 0) return { accept: false, reason: 'duplicate' };
  if (mode.kind === 'strict' || behind >= mode.size) return { accept: false, reason: 'too_old' };
  const bit = 1n << BigInt(behind - 1);
  if (state.seen & bit) return { accept: false, reason: 'duplicate' };
  // A late arrival inside the window fills one of the gaps counted when `high` jumped.
  return { accept: true, next: { high, seen: state.seen | bit }, gap: -1 };
}
