/**
 * The `database` replay store (see `ports/replay-store.ts`): the device row is the only state,
 * decided under its lock in the upload's transaction by the rule of `model/replay-window.ts`.
 */
import { checkReplay } from '../../model/replay-window.js';
import type { ReplayStore } from '../../ports/replay-store.js';

/** The default: the device row is the only state, decided in the upload's transaction. */
export const inTransactionReplay: ReplayStore = {
  kind: 'database',
  async checkAndAdvance(c) {
    return checkReplay(c.stored, c.nonce, c.mode, c.counterResetThreshold);
  },
  async reset() {},
  async ping() {},
  async close() {},
};
