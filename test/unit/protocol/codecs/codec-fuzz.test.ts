/**
 * Random and mutated bytes into every decoder of bitpack/raw/temporal/E1: each call must return
 * a typed error or a well-formed result — never throw, never hang, never a value outside u16.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBitPacked, decodeBitPackedHeaderless } from '../../../../src/protocol/codecs/bitpack.js';
import { decodeE1 } from '../../../../src/protocol/codecs/lossless-e1.js';
import { decodeRaw, decodeRawHeaderless } from '../../../../src/protocol/codecs/raw.js';
import { decodeTemporal, encodeTemporal, TemporalContext } from '../../../../src/protocol/codecs/temporal.js';
import { DECODE_ERROR_CODES as CODES } from '../decode-error-codes.js';

const QUALITIES = new Set(['exact', 'approximate', 'ambiguous', 'missing']);
const RUNS = 3000;
let cases = 0;

interface AnyResult {
  ok: boolean;
  code?: string;
  message?: string;
  values?: (number | null)[];
  quality?: string[];
  notes?: string[];
}

function checkShape(r: AnyResult): void {
  cases++;
  if (!r.ok) {
    expect(CODES.has(r.code ?? '')).toBe(true);
    expect(typeof r.message).toBe('string');
    return;
  }
  const { values = [], quality = [], notes = [] } = r;
  expect(quality.length).toBe(values.length);
  values.forEach((v, i) => {
    expect(QUALITIES.has(quality[i])).toBe(true);
    if (v === null) expect(quality[i]).toBe('missing');
    else expect(Number.isInteger(v) && v >= 0 && v <= 0xffff).toBe(true);
  });
  expect(notes.every((n) => typeof n === 'string')).toBe(true);
}

const bytesArb = fc.uint8Array({ maxLength: 48 });
/** Bytes behind a chosen marker reach past the first check. */
const behind = (marker: number) => bytesArb.map((b) => Uint8Array.of(marker, ...b));
const count = fc.option(fc.integer({ min: -1, max: 300 }), { nil: undefined });

const LAYOUT = [0, 1, 5, 9, 6, 7];
const fullContext = (() => {
  const ctx = new TemporalContext();
  for (let k = 0; k < 8; k++) encodeTemporal([2400 + k, 170, 70, 4200, 65, 550], LAYOUT, ctx);
  return ctx;
})();

describe('decoders survive random bytes', () => {
  it('decodeBitPacked', () => {
    fc.assert(
      fc.property(fc.oneof(bytesArb, behind(0x01)), count, (b, n) => checkShape(decodeBitPacked(b, n))),
      { numRuns: RUNS },
    );
  });

  it('decodeBitPackedHeaderless, width inferred or given', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 17 }),
        fc.integer({ min: -1, max: 10 }),
        fc.option(fc.integer({ min: -1, max: 18 }), { nil: undefined }),
        (b, n, w) => checkShape(decodeBitPackedHeaderless(b, n, w)),
      ),
      { numRuns: RUNS },
    );
  });

  it('decodeRaw and decodeRawHeaderless', () => {
    fc.assert(
      fc.property(fc.oneof(bytesArb, behind(0x00)), count, (b, n) => {
        checkShape(decodeRaw(b, n));
        checkShape(decodeRawHeaderless(b, n ?? 0));
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeTemporal without a context', () => {
    fc.assert(
      fc.property(fc.oneof(bytesArb, behind(0x70), behind(0x71)), (b) => checkShape(decodeTemporal(b))),
      { numRuns: RUNS },
    );
  });

  it('decodeTemporal with a full context, which only advances on success', () => {
    const frames = fc.oneof(
      behind(0x70),
      fc.uint8Array({ maxLength: 20 }).map((b) => Uint8Array.of(0x71, 6, ...b)),
    );
    fc.assert(
      fc.property(frames, fc.option(fc.constant(LAYOUT), { nil: undefined }), (b, regs) => {
        const ctx = fullContext.clone();
        const before = JSON.stringify(ctx);
        const r = decodeTemporal(b, regs, ctx);
        checkShape(r);
        if (!r.ok) expect(JSON.stringify(ctx)).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeE1', () => {
    fc.assert(
      fc.property(fc.oneof(bytesArb, behind(0xe1)), (b) => checkShape(decodeE1(b))),
      { numRuns: RUNS },
    );
  });
});

interface Vector {
  method: string;
  registers: number[];
  input_values: number[];
  output_hex: string;
}

const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../../fixtures/compression.json', import.meta.url), 'utf8'),
);
const seeds = vectors.filter((v) =>
  ['bitpacked', 'bitpacked_headerless', 'raw', 'raw_headerless', 'temporal_base', 'temporal_delta'].includes(
    v.method,
  ),
);

describe('decoders survive mutated device streams', () => {
  it('flipped, cut and extended vectors', () => {
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
      cut: fc.integer({ min: -3, max: 3 }),
    });
    fc.assert(
      fc.property(mutation, ({ seed, at, xor, cut }) => {
        const v = seeds[seed];
        const original = new Uint8Array(Buffer.from(v.output_hex, 'hex'));
        const b = new Uint8Array(Math.max(0, original.length + cut));
        b.set(original.subarray(0, b.length));
        if (b.length > 0) b[at % b.length] ^= xor;
        const n = v.input_values.length;
        checkShape(decodeBitPacked(b, n));
        checkShape(decodeBitPackedHeaderless(b, n));
        checkShape(decodeRaw(b, n));
        checkShape(decodeRawHeaderless(b, n));
        checkShape(decodeTemporal(b, v.registers, fullContext.clone()));
      }),
      { numRuns: RUNS },
    );
  });

  it('ran at least 25,000 cases', () => {
    expect(cases).toBeGreaterThanOrEqual(25_000);
  });
});
