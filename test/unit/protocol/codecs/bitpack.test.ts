import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bitPackHeaderKept,
  bitWidth,
  compressBinary,
  decodeBitPacked,
  decodeBitPackedHeaderless,
  encodeBitPacked,
  headerlessBitPackedWidths,
} from '../../../../src/protocol/codecs/bitpack.js';
import { decodeRaw, decodeRawHeaderless } from '../../../../src/protocol/codecs/raw.js';
import type { DecodeResult } from '../../../../src/protocol/codecs/types.js';

interface Vector {
  id: string;
  method: string;
  api: string;
  bits?: number;
  input_values: number[];
  output_hex: string;
  faithful_decode: number[] | null;
  lossless: boolean | null;
  decode_notes: string[];
}

const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../../fixtures/compression.json', import.meta.url), 'utf8'),
);
const bytesOf = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** faithful_decode reproduced; `exact` only where the value is the device's input. */
function expectFaithful(r: DecodeResult, v: Vector): void {
  if (v.faithful_decode === null) {
    if (r.ok) expect(r.quality.every((q) => q === 'missing')).toBe(true);
    return;
  }
  if (!r.ok) throw new Error(`${v.id}: ${r.code} ${r.message}`);
  expect(r.values).toEqual(v.faithful_decode);
  r.quality.forEach((q, i) => {
    if (q === 'exact') expect(r.values[i], `${v.id} position ${i}`).toBe(v.input_values[i]);
  });
  if (v.lossless) expect(r.quality.every((q) => q === 'exact')).toBe(true);
}

/** Quality pattern the §3.3.4 defect predicts for n values of w bits. */
function approximatePositions(n: number, w: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (((i * w) & 7) + w > 16) out.push(i);
  return out;
}

describe('bit-packed vectors', () => {
  const headed = vectors.filter((v) => v.method === 'bitpacked');
  const headerless = vectors.filter((v) => v.method === 'bitpacked_headerless');

  it('has the expected vectors', () => {
    expect(headed.length).toBe(13);
    expect(headerless.length).toBe(15);
  });

  it.each(headed.map((v) => [v.id, v] as const))('decodes %s', (_id, v) => {
    expectFaithful(decodeBitPacked(bytesOf(v.output_hex), v.input_values.length), v);
  });

  it.each(headerless.map((v) => [v.id, v] as const))('decodes header-less %s', (_id, v) => {
    const r = decodeBitPackedHeaderless(bytesOf(v.output_hex), v.input_values.length);
    expectFaithful(r, v);
    const widthNote = v.decode_notes.find((n) => n.startsWith('header-less bit-packed: widths'));
    if (widthNote && r.ok) expect(r.notes).toContain(widthNote);
    const decodedWith = v.decode_notes.find((n) => n.startsWith('decoded with width'));
    if (decodedWith && r.ok) expect(r.notes).toContain(decodedWith);
  });

  it.each(vectors.filter((v) => v.api.endsWith('compressBinaryBitPacked')).map((v) => [v.id, v] as const))(
    'encodes %s like compressBinaryBitPacked',
    (_id, v) => {
      expect(hexOf(encodeBitPacked(v.input_values, v.bits ?? 0))).toBe(v.output_hex);
    },
  );

  it.each(vectors.filter((v) => v.api === 'DataCompression::compressBinary').map((v) => [v.id, v] as const))(
    'encodes %s like compressBinary',
    (_id, v) => {
      expect(hexOf(compressBinary(v.input_values))).toBe(v.output_hex);
    },
  );

  // Smart selection and the dictionary's fallback hand out compressBinary's bytes unchanged.
  it.each(
    vectors
      .filter(
        (v) =>
          /^(bitpacked|raw)/.test(v.method) && !v.api.endsWith('BitPacked') && !v.api.endsWith('RawBinary'),
      )
      .map((v) => [v.id, v] as const),
  )('compressBinary reproduces the bit-packed/raw winner of %s', (_id, v) => {
    expect(hexOf(compressBinary(v.input_values))).toBe(v.output_hex);
  });

  it('takes the width from the caller for direct header-less calls', () => {
    const v = vectors.find((x) => x.id === 'direct-bitpacked-8bit-headerless');
    if (!v) throw new Error('vector missing');
    const r = decodeBitPackedHeaderless(bytesOf(v.output_hex), 2, 8);
    expectFaithful(r, v);
    expect(r.ok && r.notes).toEqual(['header-less; width 8 given by the caller']);
  });
});

describe('bitWidth', () => {
  it('is the device optimalBits', () => {
    expect(bitWidth([])).toBe(1);
    expect(bitWidth([0, 0])).toBe(1);
    expect(bitWidth([1])).toBe(1);
    expect(bitWidth([2])).toBe(2);
    expect(bitWidth([127])).toBe(7);
    expect(bitWidth([128])).toBe(8);
    expect(bitWidth([4095, 3])).toBe(12);
    expect(bitWidth([4096])).toBe(13);
    expect(bitWidth([65535])).toBe(16);
  });
});

describe('encodeBitPacked', () => {
  it('keeps the header iff n > 8 or packed + 3 < 2n', () => {
    expect(encodeBitPacked([200, 255], 8)).toEqual(new Uint8Array([200, 255]));
    expect(hexOf(encodeBitPacked([1000, 500, 700, 900, 300, 800], 10))).toBe('010a06fa1f4af3844b3200');
    expect(encodeBitPacked([], 8)).toEqual(new Uint8Array(0));
    expect(encodeBitPacked([1], 0)).toEqual(new Uint8Array(0));
    expect(encodeBitPacked([1], 17)).toEqual(new Uint8Array(0));
  });

  it.each([
    [11, [2, 5]],
    [13, [1, 3, 4, 6]],
    [14, [1, 2, 5, 6]],
    [15, [1, 2, 3, 4, 5, 6]],
  ])('loses the low bits at the §3.3.4 positions for width %i', (w, positions) => {
    expect(approximatePositions(8, w)).toEqual(positions);
    const max = (1 << w) - 1;
    const values = new Array<number>(9).fill(max);
    const r = decodeBitPacked(encodeBitPacked(values, w));
    if (!r.ok) throw new Error(r.message);
    r.quality.forEach((q, i) => {
      const pos = (i * w) & 7;
      if (q === 'approximate') expect(r.values[i]).toBe(max & ~((1 << (w - (8 - pos))) - 1));
      else expect(r.values[i]).toBe(max);
    });
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16])('never truncates at width %i', (w) => {
    expect(approximatePositions(64, w)).toEqual([]);
  });
});

describe('decodeBitPacked errors', () => {
  it.each([
    ['', undefined, 'empty'],
    ['02', undefined, 'unknown_marker'],
    ['0108', undefined, 'truncated'],
    ['010009', undefined, 'bad_width'],
    ['011109', undefined, 'bad_width'],
    ['010809ffdab5906b4621fc', undefined, 'truncated'],
    ['010809ffdab5906b4621fcd700', undefined, 'trailing_bytes'],
    ['010809ffdab5906b4621fcd7', 8, 'bad_count'],
    ['010802c8ff', undefined, 'bad_count'], // the device drops this header
    ['010106b5', undefined, 'bad_value'], // padding bit set
  ])('%s (count %s) → %s', (hex, count, code) => {
    const r = decodeBitPacked(bytesOf(hex), count);
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });
});

describe('decodeBitPackedHeaderless', () => {
  it('lists the widths the device can produce header-less', () => {
    expect(headerlessBitPackedWidths(6, 9)).toEqual([11, 12]);
    expect(headerlessBitPackedWidths(6, 10)).toEqual([13]);
    expect(headerlessBitPackedWidths(6, 11)).toEqual([14]);
    expect(headerlessBitPackedWidths(6, 8)).toEqual([]); // w = 10 keeps its header
    expect(headerlessBitPackedWidths(1, 1)).toEqual([8]);
    expect(headerlessBitPackedWidths(2, 3)).toEqual([9, 10, 11, 12]);
    expect(headerlessBitPackedWidths(9, 11)).toEqual([]);
  });

  it('excludes widths the data contradicts', () => {
    const r = decodeBitPackedHeaderless(bytesOf('95106201f9ba01b203'), 6);
    if (!r.ok) throw new Error(r.message);
    expect(r.values).toEqual([2385, 98, 31, 2490, 27, 515]);
    expect(r.quality.every((q) => q === 'exact')).toBe(true);
    expect(r.notes.some((n) => n.startsWith('width 11 excluded'))).toBe(true);
  });

  it('marks every value ambiguous when two widths fit, decoding with the smaller', () => {
    const bytes = encodeBitPacked([1024, 0, 0, 0, 0, 0], 11);
    expect(bytes.length).toBe(9);
    const r = decodeBitPackedHeaderless(bytes, 6);
    if (!r.ok) throw new Error(r.message);
    expect(r.values).toEqual([1024, 0, 0, 0, 0, 0]);
    expect(r.quality).toEqual(new Array(6).fill('ambiguous'));
    expect(r.notes).toContain('AMBIGUOUS width: candidates [11, 12]');
    expect(r.notes).toContain('decoded with width 11');
  });

  it('uses "the device picks the smallest width" to choose', () => {
    // Read as 12 bits every value is < 2048, so the device would not have used 12: only 11 fits.
    const bytes = encodeBitPacked([0, 1500, 0, 100, 0, 0], 11);
    const r = decodeBitPackedHeaderless(bytes, 6);
    expect(r.ok && r.values).toEqual([0, 1500, 0, 100, 0, 0]);
    expect(r.ok && r.notes.some((n) => n.startsWith('width 12 excluded: largest value'))).toBe(true);
    expect(r.ok && r.quality.includes('ambiguous')).toBe(false);
  });

  it.each([
    ['c8', 0, 'bad_count'],
    ['c8', 9, 'bad_count'],
    ['', 2, 'empty'],
    ['c8ff00', 1, 'bad_width'],
    ['7f', 1, 'bad_value'], // a single 8-bit value must be ≥ 128
    ['00000000000000000000', 6, 'bad_value'], // 13 bits for zeros: impossible
  ])('%s with count %i → %s', (hex, count, code) => {
    const r = decodeBitPackedHeaderless(bytesOf(hex), count);
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });

  it('checks a caller-given width', () => {
    expect(decodeBitPackedHeaderless(bytesOf('c8ff'), 2, 0)).toMatchObject({ ok: false, code: 'bad_width' });
    expect(decodeBitPackedHeaderless(bytesOf('c8'), 2, 8)).toMatchObject({ ok: false, code: 'truncated' });
    expect(decodeBitPackedHeaderless(bytesOf('c8ff'), 8, 1)).toMatchObject({ ok: false, code: 'bad_count' });
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });

describe('bit-pack properties', () => {
  it('round-trips every width without three-byte spans', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16)
          .chain((w) =>
            fc.tuple(
              fc.constant(w),
              fc.array(fc.integer({ min: 0, max: (1 << w) - 1 }), { minLength: 1, maxLength: 60 }),
            ),
          ),
        ([w, values]) => {
          const bytes = encodeBitPacked(values, w);
          const headed = values.length > 8 || Math.ceil((values.length * w) / 8) + 3 < 2 * values.length;
          const r = headed
            ? decodeBitPacked(bytes, values.length)
            : decodeBitPackedHeaderless(bytes, values.length, w);
          expect(r.ok && r.values).toEqual(values);
          expect(r.ok && r.quality.every((q) => q === 'exact')).toBe(true);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('returns truncated values as lower bounds, marked approximate', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(11, 13, 14, 15)
          .chain((w) =>
            fc.tuple(
              fc.constant(w),
              fc.array(fc.integer({ min: 0, max: (1 << w) - 1 }), { minLength: 9, maxLength: 60 }),
            ),
          ),
        ([w, values]) => {
          const r = decodeBitPacked(encodeBitPacked(values, w), values.length);
          if (!r.ok) throw new Error(r.message);
          const lossy = new Set(approximatePositions(values.length, w));
          values.forEach((v, i) => {
            const pos = (i * w) & 7;
            const kept = lossy.has(i) ? v & ~((1 << (w - (8 - pos))) - 1) : v;
            expect(r.values[i]).toBe(kept);
            expect(r.quality[i]).toBe(lossy.has(i) ? 'approximate' : 'exact');
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('decodes every compressBinary output, never calling a wrong value exact', () => {
    fc.assert(
      fc.property(fc.array(u16, { minLength: 1, maxLength: 40 }), (values) => {
        const bytes = compressBinary(values);
        const n = values.length;
        const w = bitWidth(values);
        const packed = w >= 8 && w <= 15 && bytes.length < 2 * n;
        let r: DecodeResult;
        if (!packed) r = n <= 8 ? decodeRawHeaderless(bytes, n) : decodeRaw(bytes, n);
        else if (bitPackHeaderKept(n, w)) r = decodeBitPacked(bytes, n);
        else r = decodeBitPackedHeaderless(bytes, n); // width inferred, not given
        if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
        if (r.quality.includes('ambiguous')) {
          // The true width is always among the candidates the decoder reports.
          expect(r.notes.some((note) => note.startsWith('AMBIGUOUS') && note.includes(String(w)))).toBe(true);
          return;
        }
        r.values.forEach((v, i) => {
          if (r.ok && r.quality[i] === 'exact') expect(v).toBe(values[i]);
          else expect(v).toBeLessThanOrEqual(values[i]);
        });
      }),
      { numRuns: 3000 },
    );
  });
});
