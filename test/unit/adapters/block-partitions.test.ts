/** The pure parts of the readings partitions: bounds, names, and which ranges still need a partition. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BlockPartition,
  missingRanges,
  parseBound,
  partitionName,
} from '../../../src/adapters/postgres/block-partitions.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('readings partitions', () => {
  it('reads the bounds PostgreSQL prints', () => {
    expect(parseBound('a', "FOR VALUES FROM ('1796515200000') TO ('1796601600000')")).toEqual({
      name: 'a',
      from: 1796515200000,
      to: 1796601600000,
    });
    expect(parseBound('l', "FOR VALUES FROM (MINVALUE) TO ('1796601600000')").from).toBe(
      Number.NEGATIVE_INFINITY,
    );
    expect(parseBound('d', 'DEFAULT')).toEqual({ name: 'd', from: null, to: null });
    expect(() => parseBound('x', 'FOR VALUES IN (1)')).toThrow(/unexpected bound/);
  });

  it('names a partition by the UTC start of its slot', () => {
    expect(partitionName(Date.UTC(2026, 11, 6))).toBe('blocks_20261206t0000');
    expect(partitionName(Date.UTC(2026, 11, 6, 12))).toBe('blocks_20261206t1200');
  });

  it('cuts what is missing at slot boundaries and leaves what exists alone', () => {
    const t0 = Date.UTC(2026, 11, 6);
    const existing: BlockPartition[] = [
      { name: 'legacy', from: Number.NEGATIVE_INFINITY, to: t0 },
      { name: 'default', from: null, to: null },
      { name: 'half', from: t0 + DAY, to: t0 + DAY + 12 * HOUR },
    ];
    expect(missingRanges(existing, t0 - DAY, t0 + 3 * DAY, DAY)).toEqual([
      [t0, t0 + DAY],
      [t0 + DAY + 12 * HOUR, t0 + 2 * DAY],
      [t0 + 2 * DAY, t0 + 3 * DAY],
    ]);
  });

  it('covers exactly the uncovered part of the range, in pieces within one slot each (property)', () => {
    const interval = fc.constantFrom(HOUR, 6 * HOUR, DAY, 7 * DAY);
    const span = fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 200 }));
    fc.assert(
      fc.property(interval, fc.array(span, { maxLength: 6 }), span, (step, spans, [s, l]) => {
        // Existing partitions that do not overlap each other (as PostgreSQL guarantees).
        const existing: BlockPartition[] = [];
        for (const [a, len] of spans) {
          const from = a * HOUR;
          const to = from + len * HOUR;
          if (existing.every((p) => (p.to as number) <= from || (p.from as number) >= to)) {
            existing.push({ name: `p${from}`, from, to });
          }
        }
        const from = s * HOUR;
        const to = from + l * HOUR;
        const pieces = missingRanges(existing, from, to, step);
        for (const [a, b] of pieces) {
          expect(a).toBeLessThan(b);
          expect(Math.floor(a / step)).toBe(Math.floor((b - 1) / step));
          for (const p of existing) expect((p.to as number) <= a || (p.from as number) >= b).toBe(true);
        }
        for (let h = from; h < to; h += HOUR) {
          const inPiece = pieces.some(([a, b]) => a <= h && h < b);
          const inExisting = existing.some((p) => (p.from as number) <= h && h < (p.to as number));
          expect(inPiece !== inExisting).toBe(true);
        }
      }),
    );
  });
});
