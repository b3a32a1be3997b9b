/**
 * Round trips through the device emulator: whatever it emits decodes, no value is ever claimed
 * more certain than it is, and outputs that are lossless by construction decode to the input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePacket } from '../../../../src/protocol/codecs/decode-packet.js';
import { DeviceCompressor } from '../../../../src/protocol/codecs/device-compressor.js';
import {
  DEVICE_PATTERNS,
  decodeDictionary,
  encodeDictionary,
  patternValue,
} from '../../../../src/protocol/codecs/dictionary.js';
import {
  decodeSemantic,
  encodeSemantic,
  semanticTolerance,
  semanticTypeOf,
} from '../../../../src/protocol/codecs/semantic.js';
import type { DecodeResult } from '../../../../src/protocol/codecs/types.js';
import { BATCH_POSITIONS } from '../../../../src/protocol/registers.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
type Mode = 'tidy' | 'steady' | 'wild';
/** Deltas the one-byte form carries unambiguously (0..63) or escapes (≥ 128). */
const tidyDelta = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 63 }) },
  { weight: 2, arbitrary: fc.integer({ min: 128, max: 180 }) },
  { weight: 1, arbitrary: fc.constant(0) },
);

/**
 * Values a register takes: `tidy` (near a pattern, lossless deltas only), `steady` (near a
 * pattern) or `wild` (mostly steady, sometimes small or anything).
 */
function valueFor(register: number, pattern: number, mode: Mode): fc.Arbitrary<number> {
  const base = patternValue(DEVICE_PATTERNS[pattern], register);
  if (mode === 'tidy') return tidyDelta.map((d) => base + d);
  const near = fc.integer({ min: -150, max: 150 }).map((d) => Math.max(0, base + d));
  if (mode === 'steady') return near;
  return fc.oneof(
    { weight: 8, arbitrary: near },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    { weight: 1, arbitrary: u16 },
  );
}
/** One sample, its values near one pattern, as real data is. */
const sampleFor = (registers: readonly number[], mode: Mode = 'wild') =>
  fc.integer({ min: 0, max: 3 }).chain((p) => fc.tuple(...registers.map((r) => valueFor(r, p, mode))));
/** A 30-value batch: five samples near the same pattern. */
const batch = fc
  .tuple(fc.constantFrom<Mode>('tidy', 'steady', 'wild'), fc.integer({ min: 0, max: 3 }))
  .chain(([mode, p]) => fc.tuple(...BATCH_POSITIONS.map((r) => valueFor(r, p, mode))));
const selection = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 12 });

/** Every exact value is the input; every dictionary ambiguity offers the input. */
function checkHonest(r: DecodeResult, input: readonly number[]): void {
  expect(r.ok, r.ok ? '' : `${r.code}: ${r.message}`).toBe(true);
  if (!r.ok) return;
  expect(r.values).toHaveLength(input.length);
  r.values.forEach((v, i) => {
    if (r.quality[i] === 'exact') expect(v).toBe(input[i]);
  });
  const ambiguities =
    'ambiguities' in r ? (r.ambiguities as { position: number; candidates: number[] }[]) : [];
  for (const a of ambiguities) expect(a.candidates).toContain(input[a.position]);
}

/** D0 output whose every value the decoder must recover exactly (no ambiguous byte, placeable). */
function dictionaryIsLossless(
  bytes: Uint8Array,
  values: readonly number[],
  registers: readonly number[],
): boolean {
  // A header-less stream can start with 0xD0 too (a lone 208): check the shape first.
  if (
    bytes.length < 5 ||
    bytes[0] !== 0xd0 ||
    bytes[2] !== values.length ||
    bytes[1] >= DEVICE_PATTERNS.length
  ) {
    return false;
  }
  const pattern = DEVICE_PATTERNS[bytes[1]];
  let late = 0;
  for (let i = 0; i < values.length; i++) {
    const d = (((values[i] - patternValue(pattern, registers[i])) << 16) >> 16) | 0;
    if ((d >= 64 && d <= 127) || (d <= -1 && d >= -127)) return false;
    if (i >= 16 && d !== 0) late++;
  }
  return late === 0 || late === values.length - 16;
}

describe('DeviceCompressor → decodePacket', () => {
  it('single samples always decode, honestly, given the device temporal state', () => {
    fc.assert(
      fc.property(
        selection.chain((regs) =>
          fc.tuple(fc.constant(regs), fc.array(sampleFor(regs), { minLength: 1, maxLength: 12 })),
        ),
        ([registers, samples]) => {
          const device = new DeviceCompressor();
          for (const values of samples) {
            const mirror = device.temporal.clone();
            const { bytes } = device.compressWithSmartSelection(values, registers);
            const r = decodePacket(bytes, { registers, temporal: mirror });
            checkHonest(r, values);
            if (!r.ok) return;
            const losslessFormat = ['raw', 'raw_headerless', 'temporal_base', 'temporal_delta'].includes(
              r.method,
            );
            if (losslessFormat || dictionaryIsLossless(bytes, values, registers))
              expect(r.values).toEqual(values);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('batches always decode, honestly, and lossless-by-construction ones exactly', () => {
    const seen = { dictionary: 0, losslessDictionary: 0 };
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 3 }), (batches) => {
        const device = new DeviceCompressor();
        for (const values of batches) {
          const { bytes, label } = device.compressBatch(values);
          expect(label.startsWith('BATCH_')).toBe(true);
          const r = decodePacket(bytes);
          checkHonest(r, values);
          if (bytes[0] === 0xd0) seen.dictionary++;
          const lossless = dictionaryIsLossless(bytes, values, BATCH_POSITIONS);
          if (lossless) seen.losslessDictionary++;
          if (r.ok && (r.method === 'raw' || lossless)) {
            expect(r.values).toEqual(values);
            expect(r.quality.every((q) => q === 'exact')).toBe(true);
          }
        }
      }),
      { numRuns: 400 },
    );
    // The generator must reach the dictionary path, not only the fallbacks.
    expect(seen.dictionary).toBeGreaterThan(50);
    expect(seen.losslessDictionary).toBeGreaterThan(10);
  });

  it('bit-packed output of widths without three-byte spans decodes exactly', () => {
    const width = fc.constantFrom(8, 9, 10, 12);
    fc.assert(
      fc.property(
        width.chain((w) =>
          fc.array(fc.integer({ min: 1 << (w - 1), max: (1 << w) - 1 }), { minLength: 9, maxLength: 30 }),
        ),
        (values) => {
          const registers = values.map(() => 8);
          const device = new DeviceCompressor();
          const { bytes } = device.compressWithSmartSelection(values, registers);
          const r = decodePacket(bytes, { registers });
          checkHonest(r, values);
          if (r.ok && (r.method === 'bitpacked' || r.method === 'raw')) expect(r.values).toEqual(values);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('dictionary round trip', () => {
  it('deltas within −64..63, 0 or escapes decode exactly', () => {
    const delta = fc.oneof(
      fc.integer({ min: 0, max: 63 }),
      fc.integer({ min: 128, max: 400 }),
      fc.constant(0),
    );
    fc.assert(
      fc.property(
        fc.array(delta, { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 3 }),
        (deltas, p) => {
          const registers = [0, 1, 5, 9, 6, 7];
          const values = registers.map((reg, i) => patternValue(DEVICE_PATTERNS[p], reg) + deltas[i]);
          const bytes = encodeDictionary(values, registers);
          // Far from every pattern the device sends compressBinary's bytes instead.
          fc.pre(bytes[0] === 0xd0);
          const r = decodeDictionary(bytes, registers);
          checkHonest(r, values);
          // The closest pattern may be another one, with other deltas.
          if (dictionaryIsLossless(bytes, values, registers)) expect(r.ok && r.values).toEqual(values);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any D0 output offers the input among the candidates of every position', () => {
    fc.assert(
      fc.property(batch, (values) => {
        const bytes = encodeDictionary(values, BATCH_POSITIONS);
        fc.pre(bytes[0] === 0xd0);
        const r = decodeDictionary(bytes, BATCH_POSITIONS);
        checkHonest(r, values);
      }),
      { numRuns: 500 },
    );
  });
});

describe('semantic round trip', () => {
  it('every decoded value is within the type tolerance of the input (mod 256 for 1-byte types)', () => {
    fc.assert(
      fc.property(
        selection.chain((regs) => fc.tuple(fc.constant(regs), sampleFor(regs))),
        ([registers, values]) => {
          const r = decodeSemantic(encodeSemantic(values, registers), values.length, registers);
          checkHonest(r, values);
          if (!r.ok) return;
          r.values.forEach((v, i) => {
            const type = semanticTypeOf(registers[i]);
            const tol = semanticTolerance(type);
            expect(v).not.toBeNull();
            const got = v ?? 0;
            if (type === 2 || type === 3 || type === 5) {
              // Some head h with |input − h| ≤ tol and h mod 256 = got.
              const lo = Math.max(0, values[i] - tol);
              let found = false;
              for (let h = lo; h <= values[i] + tol; h++) if ((h & 0xff) === got) found = true;
              expect(found).toBe(true);
            } else {
              expect(Math.abs(got - values[i])).toBeLessThanOrEqual(tol);
            }
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
