/**
 * Properties of each 1.3 codec: lossless round trips where the format is lossless, no false
 * `exact` where it is lossy, and decoders that never throw on arbitrary or mutated bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compressSmart13,
  decodeAggregation13,
  decodeBitpack13,
  decodeDictionaryD0,
  decodePacket13,
  decodeSemantic13,
  decodeTemporal13,
  encodeAggregation13,
  encodeBitpack13,
  encodeDictionaryD0,
  encodeSemantic13,
  encodeTemporal13,
  type Packet13Result,
  semanticType13,
  Temporal13Context,
  Temporal13State,
} from '../../../../src/protocol/gen13/index.js';
import { DECODE_ERROR_CODES as CODES } from '../decode-error-codes.js';
import { bytesOf, COMPRESSION } from './fixtures.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const regId = fc.integer({ min: 0, max: 9 });
/** Values that repeat a lot, so the dictionary is chosen often. */
const fewValues = (min: number, max: number) =>
  fc
    .tuple(
      fc.array(u16, { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { minLength: min, maxLength: max }),
    )
    .map(([pool, picks]) => picks.map((p) => pool[p % pool.length]));
/** A batch: layout × samples, sample-major, as the firmware builds it. */
const batch = (maxRegs: number, maxSamples: number) =>
  fc
    .tuple(
      fc.uniqueArray(regId, { minLength: 1, maxLength: maxRegs }),
      fc.integer({ min: 1, max: maxSamples }),
      fc.array(u16, { minLength: 100, maxLength: 100 }),
    )
    .map(([layout, samples, pool]) => {
      const registers = Array.from({ length: samples }, () => layout).flat();
      const values = registers.map((_r, i) => pool[i % pool.length]);
      return { registers, values };
    });

function expectExactRight(r: { values: (number | null)[]; quality: string[] }, values: number[]): void {
  r.quality.forEach((q, i) => {
    if (q === 'exact') expect(r.values[i]).toBe(values[i]);
  });
}

function checkShape(r: Packet13Result, n: number): void {
  if (!r.ok) {
    expect(CODES.has(r.code)).toBe(true);
    expect(typeof r.message).toBe('string');
    return;
  }
  expect(r.values.length).toBe(n);
  expect(r.quality.length).toBe(n);
  r.values.forEach((v, i) => {
    if (v === null) expect(r.quality[i]).toBe('missing');
    else expect(Number.isInteger(v) && v >= 0 && v <= 0xffff).toBe(true);
  });
}

describe('D0 dictionary', () => {
  it('round-trips losslessly below 256 values (D0 or its 01 fallback)', () => {
    fc.assert(
      fc.property(fc.oneof(fewValues(1, 255), fc.array(u16, { minLength: 1, maxLength: 255 })), (values) => {
        const bytes = encodeDictionaryD0(values);
        const r =
          bytes[0] === 0xd0
            ? decodeDictionaryD0(bytes, values.length)
            : decodeBitpack13(bytes, values.length);
        expect(r).toMatchObject({ ok: true, values });
        if (r.ok) expect(r.quality.every((q) => q === 'exact')).toBe(true);
        expect(bytes.length < 2 * values.length || bytes[0] === 0x01).toBe(true);
      }),
    );
  });

  it('decodes beyond 255 values from the caller’s n while the entries fit a byte', () => {
    fc.assert(
      fc.property(fewValues(256, 700), (values) => {
        const bytes = encodeDictionaryD0(values);
        fc.pre(bytes[0] === 0xd0);
        expect(decodeDictionaryD0(bytes, values.length)).toMatchObject({ ok: true, values });
        expect(decodeDictionaryD0(bytes, values.length & 0xff).ok).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects what the firmware cannot write', () => {
    const good = encodeDictionaryD0([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
    expect(Buffer.from(good).toString('hex')).toBe('d00a010000c8420000');
    const with_ = (at: number, b: number) => {
      const x = Uint8Array.from(good);
      x[at] = b;
      return x;
    };
    const f = (bytes: Uint8Array, n = 10) => decodeDictionaryD0(bytes, n);
    expect(f(good, 11)).toMatchObject({ code: 'bad_count' });
    expect(f(with_(5, 0xc9))).toMatchObject({ code: 'bad_value' }); // 100.5f: not a register value
    expect(f(with_(6, 0xc2))).toMatchObject({ code: 'bad_value' }); // -100.0f
    expect(f(with_(6, 0x4f))).toMatchObject({ code: 'bad_value' }); // 6.7e9f: beyond 65535
    expect(f(with_(8, 0x01))).toMatchObject({ code: 'bad_value' }); // index 1 of 1 entry
    expect(f(with_(2, 0))).toMatchObject({ code: 'bad_value' });
    expect(f(good.subarray(0, 8))).toMatchObject({ code: 'truncated' });
    expect(f(Uint8Array.from([...good, 0]))).toMatchObject({ code: 'trailing_bytes' });
    // Two entries, second never used / used before the first.
    const two = encodeDictionaryD0([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1]);
    expect(decodeDictionaryD0(two, 12)).toMatchObject({ ok: true });
    const swapped = Uint8Array.from(two);
    swapped[11] ^= 0xff;
    expect(decodeDictionaryD0(swapped, 12)).toMatchObject({ ok: false, code: 'bad_value' });
    // Not smaller than 2n: the firmware would have bit-packed.
    expect(decodeDictionaryD0(Uint8Array.from([0xd0, 3, 1, 0, 0, 0, 0, 0]), 3)).toMatchObject({
      code: 'bad_value',
    });
  });
});

describe('01 bit-packing', () => {
  it('round-trips losslessly with the smallest width ≥ 8', () => {
    fc.assert(
      fc.property(fc.array(u16, { minLength: 1, maxLength: 600 }), (values) => {
        const bytes = encodeBitpack13(values);
        const max = Math.max(...values);
        expect(bytes[1]).toBe(Math.max(8, max.toString(2).length));
        expect(decodeBitpack13(bytes, values.length)).toMatchObject({ ok: true, values });
      }),
    );
  });

  it('rejects widths and shapes the firmware does not write', () => {
    expect(decodeBitpack13(Uint8Array.from([1, 7, 1, 0]), 1)).toMatchObject({ code: 'bad_width' });
    expect(decodeBitpack13(Uint8Array.from([1, 17, 1, 0, 0, 0]), 1)).toMatchObject({ code: 'bad_width' });
    expect(decodeBitpack13(Uint8Array.from([1, 9, 1, 0, 0]), 1)).toMatchObject({ code: 'bad_width' }); // 0 needs 8
    expect(decodeBitpack13(Uint8Array.from([1, 8, 2, 0]), 2)).toMatchObject({ code: 'truncated' });
    expect(decodeBitpack13(Uint8Array.from([1, 8, 1, 0]), 2)).toMatchObject({ code: 'bad_count' });
    expect(decodeBitpack13(Uint8Array.from([1, 9, 1, 0xff, 0x80 | 0x01]), 1)).toMatchObject({
      code: 'bad_value',
    });
    expect(encodeBitpack13([])).toEqual(new Uint8Array(0));
  });
});

describe('70/71 temporal', () => {
  it('a boot mirror decodes every frame of any call sequence exactly and stays equal to the encoder', () => {
    fc.assert(
      fc.property(fc.array(batch(10, 3), { minLength: 1, maxLength: 30 }), (calls) => {
        const state = new Temporal13State();
        const ctx = Temporal13Context.boot();
        for (const { registers, values } of calls) {
          const bytes = encodeTemporal13(values, registers, state);
          const r = decodePacket13(bytes, { registers, context: ctx });
          expect(r).toMatchObject({ ok: true, values });
          expect(ctx.toJSON()).toEqual(Temporal13Context.fromState(state).toJSON());
        }
      }),
    );
  });

  it('deltas appear for small layouts and decode; random calls of other methods keep the mirror in step', () => {
    let deltas = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(regId, { minLength: 1, maxLength: 3 }),
        fc.array(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 3, maxLength: 3 }), {
          minLength: 9,
          maxLength: 20,
        }),
        (layout, rows) => {
          const state = new Temporal13State();
          const ctx = Temporal13Context.unknown();
          for (const row of rows) {
            const registers = [...layout, ...layout, ...layout];
            const values = registers.map((_r, i) => 2000 + row[i % 3] + i);
            const bytes = compressSmart13(registers, values, state);
            const r = decodePacket13(bytes, { registers, context: ctx });
            if (bytes[0] === 0x71) deltas++;
            // Semantic may win and lose information, after which a 0x71 may be unreadable: but
            // whatever decodes exactly is right.
            if (r.ok) expectExactRight(r, values);
            else expect(r.code).toBe('no_context');
          }
        },
      ),
    );
    expect(deltas).toBeGreaterThan(0);
  });

  it('more than 10 values: always 0x70, with the slot and bufferFull the overrun writes', () => {
    const state = new Temporal13State();
    const registers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]; // sel[11] = 1, sel[12] = 2
    for (let k = 0; k < 10; k++) {
      const bytes = encodeTemporal13(
        registers.map((r) => r + k),
        registers,
        state,
      );
      expect(bytes[0]).toBe(0x70);
      expect(state.writeIndex).toBe(2);
      expect(state.full).toBe(true);
      expect(state.lastCount).toBe(14);
    }
    // 12 values: only the slot is clobbered; bufferFull follows the wrap rule.
    const s12 = new Temporal13State();
    encodeTemporal13(new Array(12).fill(1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 6], s12);
    expect([s12.writeIndex, s12.full]).toEqual([7, false]);
    encodeTemporal13(new Array(12).fill(1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 6], s12);
    expect([s12.writeIndex, s12.full]).toEqual([7, false]);
    encodeTemporal13(new Array(12).fill(1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 7], s12);
    expect([s12.writeIndex, s12.full]).toEqual([0, true]);
  });

  it('an unknown mirror learns the absolute slot from a clobbering call and bufferFull from a 0x71', () => {
    const ctx = Temporal13Context.unknown();
    const big = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 3, 0];
    ctx.observe(big, big);
    expect(ctx.toJSON()).toMatchObject({ writeIndex: 4, writeIndexKnown: true, full: false, lastCount: 13 });
    const t = Temporal13Context.unknown();
    t.observe([5], [1]);
    t.observe([5], [2]);
    expect(t.deltaPossible([5])).toBe('unknown');
    expect(decodeTemporal13(Uint8Array.from([0x71, 1, 0x81]), [5], t)).toMatchObject({
      ok: true,
      values: [4],
    });
    t.observe([5], [4], true);
    expect(t.full).toBe(true);
    expect(t.deltaPossible([5])).toBe('yes');
  });

  it('rejects delta forms the firmware does not write', () => {
    const ctx = Temporal13Context.boot();
    for (let k = 0; k < 8; k++) ctx.observe([0], [100]);
    const d = (...b: number[]) => decodeTemporal13(Uint8Array.from([0x71, 1, ...b]), [0], ctx);
    expect(d(0x85)).toMatchObject({ ok: true, values: [105] });
    expect(d(0xc0)).toMatchObject({ code: 'bad_value' }); // −0
    expect(d(0x00, 5)).toMatchObject({ code: 'bad_value' }); // 8-bit form for a 1-byte delta
    expect(d(0x00, 0x80)).toMatchObject({ code: 'bad_value' }); // −128 is written in 16 bits
    expect(d(0x01, 100, 0)).toMatchObject({ code: 'bad_value' });
    expect(d(0x02)).toMatchObject({ code: 'bad_value' });
    expect(d(0x01, 0)).toMatchObject({ code: 'truncated' });
    expect(d(0x85, 0)).toMatchObject({ code: 'trailing_bytes' });
    expect(decodeTemporal13(Uint8Array.from([0x71, 1, 0x85]), [1], ctx)).toMatchObject({
      code: 'no_context',
    });
    expect(decodeTemporal13(Uint8Array.from([0x70, 1, 1, 0, 0]), [0])).toMatchObject({ code: 'bad_value' });
  });

  it('context JSON round-trips and refuses foreign shapes', () => {
    const ctx = Temporal13Context.unknown();
    ctx.observe([1, 2], [3, null]);
    expect(Temporal13Context.fromJSON(ctx.serialize())?.toJSON()).toEqual(ctx.toJSON());
    expect(Temporal13Context.fromJSON(JSON.parse(ctx.serialize()))?.toJSON()).toEqual(ctx.toJSON());
    for (const bad of [
      '',
      '{}',
      'null',
      '[]',
      JSON.stringify({ ...ctx.toJSON(), writeIndex: 8 }),
      JSON.stringify({ ...ctx.toJSON(), table: [] }),
    ]) {
      expect(Temporal13Context.fromJSON(bad)).toBeUndefined();
    }
    expect(Temporal13State.fromJSON('{"v":1}')).toBeUndefined();
  });
});

describe('50 semantic', () => {
  const HIGH = [true, true, false, false, true, false, true, true];
  const TOL = [0, 10, 5, 1, 15, 3, 5, 50];

  it('never reports exact for a value that differs from the input; the rest is bounded', () => {
    fc.assert(
      fc.property(batch(10, 25), fc.integer({ min: 0, max: 60 }), ({ registers, values }, spread) => {
        // Values close together, so runs form.
        const near = values.map((v) => 3000 + (v % (spread + 1)));
        const r = decodeSemantic13(encodeSemantic13(near, registers), registers);
        if (!r.ok) throw new Error(r.message);
        r.values.forEach((v, i) => {
          const t = semanticType13(registers[i]);
          if (r.quality[i] === 'exact') expect(v).toBe(near[i]);
          else expect(r.quality[i]).toBe('approximate');
          if (HIGH[t]) expect(Math.abs((v as number) - near[i])).toBeLessThanOrEqual(TOL[t]);
          else {
            // Only the head's low byte survives: some h ≡ v (mod 256) lies within tolerance of the input.
            const diff = (((near[i] - (v as number)) % 256) + 256) % 256;
            expect(diff <= TOL[t] || diff >= 256 - TOL[t]).toBe(true);
          }
        });
        // Types without a high byte are never exact.
        r.quality.forEach((q, i) => {
          if (!HIGH[semanticType13(registers[i])]) expect(q).not.toBe('exact');
        });
      }),
    );
  });

  it('a run of length 1 with its high byte present is exact', () => {
    const r = decodeSemantic13(encodeSemantic13([2429, 605, 2500], [0, 7, 0]), [0, 7, 0]);
    expect(r).toMatchObject({ ok: true, values: [2429, 605, 2500], quality: ['exact', 'exact', 'exact'] });
    const approx = decodeSemantic13(encodeSemantic13([2429, 2435, 177], [0, 0, 1]), [0, 0, 1]);
    expect(approx).toMatchObject({
      ok: true,
      values: [2429, 2429, 177],
      quality: ['exact', 'approximate', 'approximate'],
    });
  });

  it('rejects structure the firmware does not write', () => {
    const registers = [0, 7, 0, 7];
    const good = encodeSemantic13([2429, 605, 2450, 611], registers);
    expect(decodeSemantic13(good, registers).ok).toBe(true);
    expect(decodeSemantic13(good, [7, 0, 7, 0])).toMatchObject({ code: 'bad_value' }); // types differ
    expect(decodeSemantic13(good, [0, 7, 0])).toMatchObject({ code: 'bad_count' });
    expect(decodeSemantic13(good.subarray(0, good.length - 1), registers)).toMatchObject({
      code: 'truncated',
    });
    expect(decodeSemantic13(Uint8Array.from([...good, 0]), registers)).toMatchObject({
      code: 'trailing_bytes',
    });
    // A run split although its next head is within tolerance.
    const split = Uint8Array.from([0x50, 2, 1, 1, 2, 0, 1, 0x7d, 0x09, 1, 0x7e, 0x09, 1]);
    expect(decodeSemantic13(split, [0, 0])).toMatchObject({ code: 'bad_value' });
    expect(decodeSemantic13(Uint8Array.from([0x50, 1, 1, 1, 1, 0, 0x7d, 0x09, 1]), [0])).toMatchObject({
      ok: true,
    });
    expect(decodeSemantic13(Uint8Array.from([0x50, 1, 0]), [0])).toMatchObject({ code: 'bad_value' }); // uncovered
  });
});

describe('AA aggregation', () => {
  it('round-trips any summary', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.tuple(regId, u16, u16, fc.nat()), { minLength: 1, maxLength: 10 }),
        fc.nat(0xffff_ffff),
        fc.nat(0xffff_ffff),
        (mode, sampleCount, regs, tStart, tEnd) => {
          const min = regs.map(([, a, b]) => Math.min(a, b));
          const max = regs.map(([, a, b]) => Math.max(a, b));
          const avg = mode === 2 ? regs.map(([, , , k], i) => min[i] + (k % (max[i] - min[i] + 1))) : null;
          const summary = {
            mode,
            sampleCount,
            registerCount: regs.length,
            tStart,
            tEnd,
            registers: regs.map(([r]) => r),
            min,
            max,
            avg,
          };
          expect(decodeAggregation13(encodeAggregation13(summary))).toEqual({ ok: true, summary });
        },
      ),
    );
  });
});

describe('decoders never throw', () => {
  const anyRegisters = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 });

  it('on random bytes, with and without a context', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        anyRegisters,
        fc.boolean(),
        (bytes, registers, withContext) => {
          const context = withContext ? Temporal13Context.boot() : undefined;
          checkShape(decodePacket13(bytes, { registers, context }), registers.length);
          checkShape(decodeDictionaryD0(bytes, registers.length), registers.length);
          checkShape(decodeBitpack13(bytes, registers.length), registers.length);
          checkShape(decodeSemantic13(bytes, registers), registers.length);
          checkShape(decodeTemporal13(bytes, registers, context), registers.length);
          const agg = decodeAggregation13(bytes);
          if (!agg.ok) expect(CODES.has(agg.code)).toBe(true);
          if (context) expect(Temporal13Context.fromJSON(context.serialize())).toBeDefined();
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('on every vector with random mutations, on a context that has seen the sequences', () => {
    const context = Temporal13Context.unknown();
    fc.assert(
      fc.property(
        fc.constantFrom(...COMPRESSION),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }),
        (v, flips, cut) => {
          const bytes = Uint8Array.from(bytesOf(v.output_hex));
          for (const [at, b] of flips) bytes[at % bytes.length] = b;
          const input =
            cut < 0
              ? bytes.subarray(0, bytes.length + cut)
              : Uint8Array.from([...bytes, ...new Array(cut).fill(0)]);
          checkShape(decodePacket13(input, { registers: v.registers, context }), v.registers.length);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the smart compressor always produces a packet its decoder reads', () => {
    fc.assert(
      fc.property(fc.array(batch(10, 5), { minLength: 1, maxLength: 12 }), (calls) => {
        const state = new Temporal13State();
        const ctx = Temporal13Context.boot();
        for (const { registers, values } of calls) {
          const bytes = compressSmart13(registers, values, state);
          const r = decodePacket13(bytes, { registers, context: ctx });
          checkShape(r, values.length);
          if (bytes[0] !== 0x71) expect(r.ok).toBe(true);
          if (r.ok) expectExactRight(r, values);
        }
      }),
    );
  });
});
