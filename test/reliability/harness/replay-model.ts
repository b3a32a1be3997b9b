/** The reference the concurrency case holds every replay decision against. */
import type { ReplayMode } from '../../../src/model/replay.js';

export type Verdict = { accept: true } | { accept: false; reset: boolean };

/**
 * §10.4 written as plainly as possible, independently of the server's bitmap: the set of
 * accepted nonces, the highest one, and the floor below which everything counts as used (where
 * the device was armed).
 */
export class ReplayModel {
  private readonly accepted = new Set<number>();
  high: number | null;
  private floor: number | null;

  constructor(start: number | null) {
    this.high = start;
    this.floor = start;
  }

  decide(n: number, mode: ReplayMode, threshold: number): Verdict {
    if (this.high === null) {
      this.high = n;
      this.floor = n;
      return { accept: true };
    }
    if (n > this.high) {
      this.accepted.add(this.high);
      this.high = n;
      return { accept: true };
    }
    const behind = this.high - n;
    if (behind >= threshold) return { accept: false, reset: true };
    if (behind === 0 || mode.kind === 'strict' || behind >= mode.size) return { accept: false, reset: false };
    if ((this.floor !== null && n <= this.floor) || this.accepted.has(n))
      return { accept: false, reset: false };
    this.accepted.add(n);
    return { accept: true };
  }
}
