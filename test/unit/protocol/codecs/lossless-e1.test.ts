import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeE1, encodeE1 } from '../../../../src/protocol/codecs/lossless-e1.js';

const bytesOf = (hex: string) => new Uint8Array(Buffer.from(hex.replaceAll(' ', ''), 'hex'));
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('E1 layout', () => {
  it('writes columns: first value u16 LE, then zigzag LEB128 deltas', () => {
    const bytes = encodeE1(
      [
        [2400, 170],
        [2401, 168],
        [2401, 300],
      ],
      [0, 1],
    );
    // e1 | s=3 r=2 | RegIDs 00 01 | 2400: 60 09, +1: 02, 0: 00 | 170: aa 00, −2: 03, +132: 88 02
    expect(hexOf(bytes)).toBe('e103020001600902' + '00aa00038802');
    const r = decodeE1(bytes);
    expect(r).toEqual({
      ok: true,
      method: 'lossless_e1',
      samples: 3,
      registers: [0, 1],
      values: [2400, 170, 2401, 168, 2401, 300],
      quality: new Array(6).fill('exact'),
      notes: [],
    });
  });

  it('uses three varint bytes for the extreme deltas', () => {
    const bytes = encodeE1([[0], [65535], [0]], [9]);
    // +65535 → zigzag 131070 = fe ff 07; −65535 → 131069 = fd ff 07
    expect(hexOf(bytes)).toBe('e1030109' + '0000' + 'feff07' + 'fdff07');
    expect(decodeE1(bytes)).toMatchObject({ ok: true, values: [0, 65535, 0] });
  });

  it('handles no samples and no registers', () => {
    expect(hexOf(encodeE1([], [0, 1]))).toBe('e1000200' + '01');
    expect(decodeE1(bytesOf('e100020001'))).toMatchObject({
      ok: true,
      samples: 0,
      registers: [0, 1],
      values: [],
    });
    expect(hexOf(encodeE1([[], []], []))).toBe('e10200');
    expect(decodeE1(bytesOf('e10200'))).toMatchObject({ ok: true, samples: 2, registers: [], values: [] });
  });

  it('refuses input it cannot carry exactly', () => {
    const empty = new Uint8Array(0);
    expect(encodeE1([[1, 2], [3]], [0, 1])).toEqual(empty);
    expect(encodeE1([[65536]], [0])).toEqual(empty);
    expect(encodeE1([[-1]], [0])).toEqual(empty);
    expect(encodeE1([[1.5]], [0])).toEqual(empty);
    expect(encodeE1([[1]], [256])).toEqual(empty);
    expect(encodeE1(new Array(256).fill([1]), [0])).toEqual(empty);
    expect(encodeE1([new Array(256).fill(1)], new Array(256).fill(0))).toEqual(empty);
  });
});

describe('E1 decoder errors', () => {
  it.each([
    ['', 'empty'],
    ['e0', 'unknown_marker'],
    ['e102', 'truncated'],
    ['e1020200', 'truncated'], // second RegID missing
    ['e102010060', 'truncated'], // first value cut
    ['e10201006009', 'truncated'], // delta missing
    ['e1020100600980', 'truncated'], // varint cut
    ['e10201006009808080', 'bad_value'], // four varint bytes
    ['e102010060098000', 'bad_value'], // not the shortest form
    ['e1020100600980808001', 'bad_value'], // four bytes even if the 4th ends it
    ['e10201006009ffff07', 'bad_value'], // zigzag 131071: beyond 17 bits
    ['e102010060098080 08', 'bad_value'], // overflows 17 bits
    ['e10201000000 01', 'bad_value'], // 0 − 1 < 0
    ['e1020100ffff 02', 'bad_value'], // 65535 + 1
    ['e10201006009 0200', 'trailing_bytes'],
  ])('%s → %s', (hex, code) => {
    const r = decodeE1(bytesOf(hex));
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });

  it('calls every proper prefix of a valid stream truncated', () => {
    const bytes = encodeE1(
      [
        [1, 60000, 3],
        [400, 2, 3],
        [1, 60000, 3],
      ],
      [0, 1, 2],
    );
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(decodeE1(bytes.subarray(0, cut))).toMatchObject({ ok: false, code: 'truncated' });
    }
  });
});

describe('E1 properties', () => {
  const matrix = fc
    .record({ s: fc.integer({ min: 0, max: 40 }), r: fc.integer({ min: 0, max: 12 }) })
    .chain(({ s, r }) =>
      fc.tuple(
        fc.array(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: r, maxLength: r }), {
          minLength: s,
          maxLength: s,
        }),
        fc.array(fc.integer({ min: 0, max: 0xff }), { minLength: r, maxLength: r }),
      ),
    );

  it('round-trips arbitrary u16 matrices exactly', () => {
    fc.assert(
      fc.property(matrix, ([samples, registers]) => {
        const r = decodeE1(encodeE1(samples, registers));
        if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
        expect(r.samples).toBe(samples.length);
        expect(r.registers).toEqual(registers);
        expect(r.values).toEqual(samples.flat());
        expect(r.quality.every((q) => q === 'exact')).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('round-trips the largest batch', () => {
    const samples = Array.from({ length: 255 }, (_, k) =>
      Array.from({ length: 255 }, (_, j) => (k * 7919 + j * 104729) & 0xffff),
    );
    const registers = Array.from({ length: 255 }, (_, j) => j);
    const r = decodeE1(encodeE1(samples, registers));
    expect(r.ok && r.values).toEqual(samples.flat());
  });

  it('is compact for slowly changing inverter batches', () => {
    const samples = Array.from({ length: 5 }, (_, k) => [2400 + k, 170 - k, 70, 4200 + 3 * k, 65, 550]);
    const bytes = encodeE1(samples, [0, 1, 5, 9, 6, 7]);
    expect(bytes.length).toBe(3 + 6 + 6 * (2 + 4)); // one byte per delta
    expect(bytes.length).toBeLessThan(2 + 2 * 30);
  });
});
