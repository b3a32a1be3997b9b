/**
 * Where a device's anti-replay state is checked and advanced for the PostgreSQL store. Both
 * implementations (`adapters/postgres/in-transaction-replay.ts`, `adapters/redis/`) apply the
 * rule of `model/replay-window.ts`; they differ in what an acknowledged upload is guaranteed:
 *
 * - `database` (default): the state is a column of the device row, decided under that row's lock
 *   and written in the upload's own transaction. A nonce is consumed exactly when its upload is
 *   committed: a failed or interrupted commit consumes nothing (the device may send the same
 *   envelope again), and no acknowledged nonce is ever accepted twice, whatever the number of
 *   instances (the row lock serialises them).
 * - `redis`: an atomic Lua script per device key checks and advances the state in Redis, still
 *   called under the device row lock (so the policy check comes first, as in every store) and
 *   before the commit. The new state is also written to the device row in the same transaction,
 *   and the script takes that copy as a floor (the union of both states decides), so:
 *   - every acknowledged upload's nonce is in the committed copy: even if Redis loses writes
 *     (restart without `appendfsync always`, failover to a lagging replica, FLUSHALL), no
 *     acknowledged envelope is ever accepted again;
 *   - a crash or error between the Redis advance and the commit *burns* the nonce: the upload was
 *     not acknowledged (503 or no answer), nothing acknowledged is lost, but the same envelope is
 *     now refused as a replay: the device must send its data again under a new nonce (the field
 *     firmware does: every attempt takes the next nonce);
 *   - a burned nonce that Redis then forgets (data loss as above) could be accepted once later:
 *     its upload was never stored, so this stores it once, never twice;
 *   - Redis unreachable: uploads and nonce checks fail with 503 (nothing stored), never fall back
 *     to a weaker check.
 *   Creating or re-arming a device (`reset`) overwrites the Redis state under the row lock, before
 *   the commit; if that commit then fails, the committed copy (the floor) keeps the old state.
 */
import type { ReplayDecision, ReplayMode, ReplayState } from '../model/replay.js';

export interface ReplayCheck {
  deviceId: string;
  nonce: number;
  mode: ReplayMode;
  counterResetThreshold: number;
  /** The state of the device row, read under its lock in the current transaction. */
  stored: ReplayState;
  /** The row was created in this transaction: `stored` replaces anything the store holds. */
  fresh: boolean;
}

export interface ReplayStore {
  readonly kind: 'database' | 'redis';
  /** Decides, and when accepted records the advance; `next` is what the device row must keep. */
  checkAndAdvance(check: ReplayCheck): Promise<ReplayDecision>;
  /** A device was created or re-armed: the store forgets what it held for it. */
  reset(deviceId: string, state: ReplayState): Promise<void>;
  /** Liveness of the store (the `database` kind has nothing of its own). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
