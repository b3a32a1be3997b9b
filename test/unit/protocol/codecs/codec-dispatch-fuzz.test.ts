/**
 * Hostile input: random bytes, random layouts and mutated field packets into the decoders. They
 * must return (never throw, never hang) and keep the result invariants. 60,000 cases in all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePacket } from '../../../../src/protocol/codecs/decode-packet.js';
import { decodeDictionary } from '../../../../src/protocol/codecs/dictionary.js';
import { decodeSemantic } from '../../../../src/protocol/codecs/semantic.js';
import { TemporalContext } from '../../../../src/protocol/codecs/temporal.js';
import type { DecodeResult } from '../../../../src/protocol/codecs/types.js';
import { DECODE_ERROR_CODES as CODES } from '../decode-error-codes.js';
import { bytesOf, VECTORS } from './compression-fixture.js';

const MARKERS = [0x00, 0x01, 0x50, 0x70, 0x71, 0xd0, 0xe1];

/** Shape every decoder result must have, whatever went in. */
function checkShape(r: DecodeResult, n?: number): void {
  if (!r.ok) {
    expect(CODES.has(r.code)).toBe(true);
    expect(typeof r.message).toBe('string');
    return;
  }
  if (n !== undefined) expect(r.values).toHaveLength(n);
  expect(r.quality).toHaveLength(r.values.length);
  r.values.forEach((v, i) => {
    expect(v === null).toBe(r.quality[i] === 'missing');
    if (v !== null) expect(Number.isInteger(v) && v >= 0 && v <= 0xffff).toBe(true);
  });
}

/** Random bytes, usually starting with a marker so the parsers get past their first check. */
const packet = fc
  .tuple(
    fc.oneof(fc.constantFrom(...MARKERS), fc.integer({ min: 0, max: 255 })),
    fc.uint8Array({ maxLength: 96 }),
  )
  .map(([first, rest]) => Uint8Array.from([first, ...rest]));
/** RegIDs mostly valid, sometimes not; lengths around the real ones (1, 6, 30) and beyond. */
const layout = fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })), {
  maxLength: 40,
});
/** A real packet with a few bytes flipped, dropped or appended. */
const mutated = fc
  .tuple(
    fc.constantFrom(...VECTORS),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.integer({ min: -3, max: 3 }),
  )
  .map(([v, flips, grow]) => {
    const bytes = Array.from(bytesOf(v));
    for (const [at, b] of flips) if (bytes.length > 0) bytes[at % bytes.length] = b;
    if (grow < 0) bytes.length = Math.max(0, bytes.length + grow);
    for (let k = 0; k < grow; k++) bytes.push(k * 37);
    return { bytes: Uint8Array.from(bytes), registers: v.registers };
  });

/** Fills the context so that 0x71 parses reach their delta loop. */
function warmContext(registers: readonly number[]): TemporalContext {
  const ctx = new TemporalContext();
  const valid = registers.filter((r) => r >= 0 && r <= 9);
  for (let k = 0; k < 8; k++)
    ctx.advance(
      valid.map((_, i) => 1000 * k + i),
      valid,
    );
  return ctx;
}

describe('decoders survive hostile input', () => {
  it('decodePacket: random bytes and layouts (20,000)', () => {
    fc.assert(
      fc.property(packet, layout, fc.boolean(), (bytes, registers, withContext) => {
        const temporal = withContext ? warmContext(registers) : undefined;
        checkShape(decodePacket(bytes, { registers, temporal }), undefined);
      }),
      { numRuns: 20_000 },
    );
  });

  it('decodePacket: default batch layout (5,000)', () => {
    fc.assert(
      fc.property(packet, (bytes) => {
        const r = decodePacket(bytes);
        // Without a caller layout an E1 packet brings its own count.
        checkShape(r, r.ok && r.method === 'lossless_e1' ? undefined : 30);
      }),
      { numRuns: 5_000 },
    );
  });

  it('decodePacket: mutated field packets (15,000)', () => {
    fc.assert(
      fc.property(mutated, fc.boolean(), ({ bytes, registers }, withContext) => {
        const temporal = withContext ? warmContext(registers) : undefined;
        checkShape(decodePacket(bytes, { registers, temporal }), registers.length);
      }),
      { numRuns: 15_000 },
    );
  });

  it('decodeDictionary: random bytes behind a D0 header (10,000)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), layout, fc.boolean(), (rest, registers, countFits) => {
        const n = countFits ? registers.length & 0xff : (rest[0] ?? 0);
        const bytes = Uint8Array.from([0xd0, rest[1] ?? 0, n, ...rest.subarray(2)]);
        const r = decodeDictionary(bytes, registers);
        checkShape(r, registers.length);
        if (r.ok) for (const a of r.ambiguities) expect(a.candidates).toContain(r.values[a.position]);
      }),
      { numRuns: 10_000 },
    );
  });

  it('decodeSemantic: random bytes behind a 0x50 header (10,000)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.option(layout), (rest, registers) => {
        const bytes = Uint8Array.from([0x50, registers?.length ?? rest[0] ?? 0, ...rest]);
        const r = decodeSemantic(bytes, registers?.length, registers ?? undefined);
        checkShape(r, registers?.length);
      }),
      { numRuns: 10_000 },
    );
  });

  it('stays fast on the largest inputs a layout allows', () => {
    const registers = new Array(255).fill(0);
    const bytes = new Uint8Array(4096).fill(0xff);
    bytes[0] = 0xd0;
    bytes[2] = 255;
    const started = performance.now();
    for (let k = 0; k < 200; k++) {
      decodePacket(bytes, { registers });
      bytes[0] = k % 2 ? 0x50 : 0xd0;
    }
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
