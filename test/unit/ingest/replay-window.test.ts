import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReplayMode, ReplayState } from '../../../src/model/replay.js';
import { armedAt, checkReplay, UNARMED } from '../../../src/model/replay-window.js';

const STRICT: ReplayMode = { kind: 'strict' };
const run = (mode: ReplayMode, nonces: number[], start: ReplayState = armedAt(10000), reset = 1000) => {
  let state = start;
  return nonces.map((n) => {
    const d = checkReplay(state, n, mode, reset);
    if (d.accept) state = d.next;
    return d;
  });
};

describe('checkReplay', () => {
  it('strict: accepts only nonces above the highest, counts gaps', () => {
    const d = run(STRICT, [10001, 10001, 10005, 10003, 10006]);
    expect(d.map((x) => x.accept)).toEqual([true, false, true, false, true]);
    expect(d[2]).toMatchObject({ accept: true, gap: 3 });
    expect(d[1]).toMatchObject({ accept: false, reason: 'duplicate' });
    expect(d[3]).toMatchObject({ accept: false, reason: 'too_old' });
  });

  it('window: accepts late nonces once, inside the window only', () => {
    const mode: ReplayMode = { kind: 'window', size: 4 };
    const d = run(mode, [10005, 10003, 10003, 10002, 10001, 10005]);
    expect(d.map((x) => (x.accept ? 'ok' : x.reason))).toEqual([
      'ok',
      'ok',
      'duplicate',
      'ok',
      'too_old',
      'duplicate',
    ]);
  });

  it('flags an authentic nonce far below the highest as a counter reset', () => {
    const d = checkReplay({ high: 50_000, seen: 0n }, 10001, STRICT, 1000);
    expect(d).toEqual({ accept: false, reason: 'counter_reset_suspected' });
  });

  it('an unarmed device accepts its first nonce, whatever it is', () => {
    expect(checkReplay(UNARMED, 3, STRICT, 1000)).toMatchObject({ accept: true, gap: 0, next: { high: 3 } });
  });

  it('property: a nonce is never accepted twice, in any order, in any mode', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 9_000, max: 10_200 }), { maxLength: 200 }),
        fc.oneof(
          fc.constant(STRICT),
          fc.integer({ min: 1, max: 128 }).map((size) => ({ kind: 'window', size }) as const),
        ),
        (nonces, mode) => {
          const accepted = new Set<number>();
          let state: ReplayState = armedAt(10000);
          for (const n of nonces) {
            const d = checkReplay(state, n, mode, 5000);
            if (!d.accept) continue;
            expect(accepted.has(n)).toBe(false);
            expect(n).toBeGreaterThan(9999);
            accepted.add(n);
            state = d.next;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: window mode accepts every not-yet-seen nonce within the window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 64 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 100 }),
        (size, steps) => {
          const mode: ReplayMode = { kind: 'window', size };
          let state: ReplayState = armedAt(10000);
          const seen = new Set<number>([10000]);
          for (const step of steps) {
            const n = 10000 + step;
            const d = checkReplay(state, n, mode, 100_000);
            const high = state.high as number;
            const shouldAccept = !seen.has(n) && (n > high || high - n < size);
            expect(d.accept).toBe(shouldAccept);
            if (d.accept) {
              seen.add(n);
              state = d.next;
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
