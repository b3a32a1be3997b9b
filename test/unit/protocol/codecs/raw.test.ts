import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRaw, decodeRawHeaderless, encodeRaw } from '../../../../src/protocol/codecs/raw.js';
import type { DecodeResult } from '../../../../src/protocol/codecs/types.js';

interface Vector {
  id: string;
  method: string;
  api: string;
  input_values: number[];
  output_hex: string;
  faithful_decode: number[] | null;
  lossless: boolean | null;
}

const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../../fixtures/compression.json', import.meta.url), 'utf8'),
);
const bytesOf = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function expectFaithful(r: DecodeResult, v: Vector): void {
  if (v.faithful_decode === null) {
    if (r.ok) expect(r.quality.every((q) => q === 'missing')).toBe(true);
    return;
  }
  if (!r.ok) throw new Error(`${v.id}: ${r.code} ${r.message}`);
  expect(r.values).toEqual(v.faithful_decode);
  r.quality.forEach((q, i) => {
    if (q === 'exact') expect(r.values[i]).toBe(v.input_values[i]);
  });
  if (v.lossless) expect(r.quality.every((q) => q === 'exact')).toBe(true);
}

describe('raw vectors', () => {
  const cases = vectors.filter((v) => ['raw', 'raw_headerless', 'empty'].includes(v.method));

  it('covers raw, header-less raw and empty', () => {
    expect(cases.map((v) => v.method).sort()).toEqual([
      'empty',
      ...new Array(4).fill('raw'),
      ...new Array(7).fill('raw_headerless'),
    ]);
  });

  it.each(cases.map((v) => [v.id, v] as const))('decodes %s', (_id, v) => {
    const bytes = bytesOf(v.output_hex);
    const n = v.input_values.length;
    const r = v.method === 'raw' ? decodeRaw(bytes, n) : decodeRawHeaderless(bytes, n);
    expectFaithful(r, v);
    expect(r.ok && r.method).toBe(v.method);
  });

  it.each(vectors.filter((v) => v.api.endsWith('storeAsRawBinary')).map((v) => [v.id, v] as const))(
    'encodes %s like storeAsRawBinary',
    (_id, v) => {
      expect(hexOf(encodeRaw(v.input_values))).toBe(v.output_hex);
    },
  );
});

describe('raw decoders reject what the device cannot send', () => {
  it.each([
    ['', undefined, 'empty'],
    ['01', undefined, 'unknown_marker'],
    ['00', undefined, 'truncated'],
    ['0009010002000300040005000600070008', undefined, 'truncated'],
    ['0009010002000300040005000600070008007f0000', undefined, 'trailing_bytes'],
    ['0009010002000300040005000600070008007f00', 10, 'bad_count'],
    ['00010100', undefined, 'bad_count'],
    ['00020100ff00', undefined, 'bad_count'], // the device writes no header for n ≤ 8
  ])('decodeRaw(%s, %s) → %s', (hex, count, code) => {
    const r = decodeRaw(bytesOf(hex), count);
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });

  it.each([
    ['0100', 9, 'bad_count'],
    ['0100', -1, 'bad_count'],
    ['0100', 1.5, 'bad_count'],
    ['', 1, 'empty'],
    ['01', 1, 'truncated'],
    ['010000', 1, 'trailing_bytes'],
    ['00', 0, 'trailing_bytes'],
  ])('decodeRawHeaderless(%s, %s) → %s', (hex, count, code) => {
    const r = decodeRawHeaderless(bytesOf(hex), count);
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });
});

describe('raw properties', () => {
  it('round-trips any u16 array up to 255 values', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 255 }), (values) => {
        const bytes = encodeRaw(values);
        const r =
          values.length <= 8 ? decodeRawHeaderless(bytes, values.length) : decodeRaw(bytes, values.length);
        expect(r.ok && r.values).toEqual(values);
        expect(r.ok && r.quality.every((q) => q === 'exact')).toBe(true);
        expect(bytes.length).toBe(values.length <= 8 ? 2 * values.length : 2 + 2 * values.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('stores values like a C uint16_t', () => {
    expect(hexOf(encodeRaw([65536, -1, 70000]))).toBe('0000ffff7011');
  });
});
