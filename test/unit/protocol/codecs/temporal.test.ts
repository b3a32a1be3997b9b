import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTemporal, encodeTemporal, TemporalContext } from '../../../../src/protocol/codecs/temporal.js';
import type { DecodeResult } from '../../../../src/protocol/codecs/types.js';

interface Vector {
  id: string;
  method: string;
  api: string;
  state: string | { sequence: string; step: number };
  registers: number[];
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
const isTemporal = (v: Vector) => v.method === 'temporal_base' || v.method === 'temporal_delta';

function sequence(name: string): Vector[] {
  return vectors
    .filter((v) => typeof v.state === 'object' && v.state.sequence === name)
    .sort((a, b) => (a.state as { step: number }).step - (b.state as { step: number }).step);
}

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
  expect(r.method).toBe(v.method);
}

const LAYOUT = [0, 1, 5, 9, 6, 7];

/** A context that has seen eight 6-value samples: the next compatible call emits 0x71. */
function fullContext(): TemporalContext {
  const ctx = new TemporalContext();
  for (let k = 0; k < 8; k++) encodeTemporal([2400 + k, 170, 70, 4200, 65, 550], LAYOUT, ctx);
  return ctx;
}

describe('temporal vectors', () => {
  it('covers every temporal vector', () => {
    expect(vectors.filter(isTemporal).length).toBe(15);
  });

  it.each(vectors.filter((v) => isTemporal(v) && v.state === 'fresh').map((v) => [v.id, v] as const))(
    'encodes and decodes the fresh-state vector %s',
    (_id, v) => {
      const enc = new TemporalContext();
      expect(hexOf(encodeTemporal(v.input_values, v.registers, enc))).toBe(v.output_hex);
      expectFaithful(decodeTemporal(bytesOf(v.output_hex), v.registers), v);
      const dec = new TemporalContext();
      expectFaithful(decodeTemporal(bytesOf(v.output_hex), undefined, dec), v);
      expect(dec.toJSON()).toEqual(enc.toJSON());
    },
  );

  it('replays seq-temporal-direct on one encoder and decodes it on a mirrored context', () => {
    const steps = sequence('seq-temporal-direct');
    expect(steps.length).toBe(11);
    const enc = new TemporalContext();
    const dec = new TemporalContext();
    for (const v of steps) {
      expect(hexOf(encodeTemporal(v.input_values, v.registers, enc)), v.id).toBe(v.output_hex);
      expectFaithful(decodeTemporal(bytesOf(v.output_hex), v.registers, dec), v);
      expect(dec.toJSON()).toEqual(enc.toJSON());
    }
  });

  it('follows seq-smart-single-steady: TEMPORAL runs on every smart call', () => {
    const steps = sequence('seq-smart-single-steady');
    expect(steps.length).toBe(10);
    const enc = new TemporalContext();
    const dec = new TemporalContext();
    for (const v of steps) {
      const own = encodeTemporal(v.input_values, v.registers, enc);
      if (isTemporal(v)) {
        expect(hexOf(own), v.id).toBe(v.output_hex); // the temporal output is what won
        expectFaithful(decodeTemporal(bytesOf(v.output_hex), v.registers, dec), v);
      } else {
        // Another method won; the device's context still advanced with this input.
        encodeTemporal(v.input_values, v.registers, dec);
      }
      expect(dec.toJSON()).toEqual(enc.toJSON());
    }
  });

  it('reports no_context for 0x71 without a mirrored context', () => {
    for (const v of vectors.filter((x) => x.method === 'temporal_delta')) {
      expect(decodeTemporal(bytesOf(v.output_hex), v.registers)).toMatchObject({
        ok: false,
        code: 'no_context',
      });
    }
  });
});

describe('temporal encoder', () => {
  it('emits base frames until the context is full, then deltas', () => {
    const ctx = new TemporalContext();
    for (let k = 0; k < 8; k++) expect(encodeTemporal([1, 2, 3, 4, 5, 6], LAYOUT, ctx)[0]).toBe(0x70);
    expect(ctx.full).toBe(true);
    expect(hexOf(encodeTemporal([1, 2, 3, 4, 5, 6], LAYOUT, ctx))).toBe('7106808080808080');
    // A different layout breaks compatibility for one call.
    expect(encodeTemporal([1, 2, 3, 4, 5, 6], [0, 1, 5, 9, 7, 6], ctx)[0]).toBe(0x70);
  });

  it('emulates the n > 10 overflow: always base, write slot and full flag clobbered', () => {
    const ctx = new TemporalContext();
    const batch = Array.from({ length: 30 }, (_, i) => LAYOUT[i % 6]);
    const values = batch.map((_, i) => 1000 + i);
    expect(encodeTemporal(values, batch, ctx)[0]).toBe(0x70);
    // sel[11] = 7 lands on writeIndex: (7 + 1) % 8 = 0, which also sets full.
    expect(ctx.writeIndex).toBe(0);
    expect(ctx.full).toBe(true);
    expect(ctx.lastCount).toBe(30);
    expect(ctx.lastRegisters).toEqual(batch.slice(0, 10));
    expect(ctx.history(0, 7)).toBe(1029); // the 5th sample survives
    expect(encodeTemporal(values, batch, ctx)[0]).toBe(0x70); // never compatible
    expect(encodeTemporal(values.slice(0, 6), LAYOUT, ctx)[0]).toBe(0x70); // lastCount 30 ≠ 6
    expect(encodeTemporal(values.slice(0, 6), LAYOUT, ctx)[0]).toBe(0x71);
  });

  it('clobbers only what the copy reaches', () => {
    const eleven = new TemporalContext();
    encodeTemporal(new Array(11).fill(5), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0], eleven);
    expect(eleven.writeIndex).toBe(1);
    const twelve = new TemporalContext();
    encodeTemporal(new Array(12).fill(5), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 3], twelve);
    expect(twelve.writeIndex).toBe(4);
    expect(twelve.full).toBe(false);
    const thirteen = fullContext();
    encodeTemporal(new Array(13).fill(5), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 2, 0], thirteen);
    expect(thirteen.writeIndex).toBe(3);
    expect(thirteen.full).toBe(false); // sel[12] = 0 overwrote bufferFull
  });

  it('refuses input the device cannot be given, leaving the context alone', () => {
    const ctx = fullContext();
    const before = ctx.toJSON();
    expect(encodeTemporal([1, 2], [0], ctx)).toEqual(new Uint8Array(0));
    expect(encodeTemporal([1], [10], ctx)).toEqual(new Uint8Array(0));
    expect(encodeTemporal([1], [-1], ctx)).toEqual(new Uint8Array(0));
    expect(ctx.advance([1], [0.5])).toBe(false);
    expect(ctx.advance([1, 2], [0])).toBe(false);
    expect(ctx.toJSON()).toEqual(before);
  });
});

describe('temporal decoder errors', () => {
  const base6 = '70060001050906077d09b1004900eb1046005d02';

  it.each([
    ['', 'empty'],
    ['72', 'unknown_marker'],
    ['70', 'truncated'],
    [base6.slice(0, -2), 'truncated'],
    [`${base6}00`, 'trailing_bytes'],
    ['70010a0000', 'bad_value'], // RegID 10
  ])('%s → %s', (hex, code) => {
    const r = decodeTemporal(bytesOf(hex));
    expect(r.ok ? 'ok' : r.code).toBe(code);
  });

  it('checks the packet layout against the frame', () => {
    expect(decodeTemporal(bytesOf(base6), [0, 1, 5, 9, 6])).toMatchObject({ ok: false, code: 'bad_count' });
    expect(decodeTemporal(bytesOf(base6), [0, 1, 5, 9, 7, 6])).toMatchObject({
      ok: false,
      code: 'bad_value',
    });
    expect(decodeTemporal(bytesOf('7106808080808080'), [0, 1, 5, 9, 7, 6], fullContext())).toMatchObject({
      ok: false,
      code: 'bad_value',
    });
  });

  it.each([
    ['7106808080808080', 'ok'],
    ['710680808080808080', 'trailing_bytes'],
    ['71068080808080', 'truncated'],
    ['7106c08080808080', 'bad_value'], // −0
    ['7106000580808080 80', 'bad_value'], // 5 in the 8-bit form
    ['7106008080808080 80', 'bad_value'], // −128 in the 8-bit form
    ['710601050080808080 80', 'bad_value'], // 5 in the 16-bit form
    ['7106028080808080', 'bad_value'], // unknown tag
    ['710600', 'truncated'],
    ['71060140', 'truncated'],
    ['710b', 'bad_count'], // 11 values never go as 0x71
    ['7105808080808080', 'no_context'], // context expects 6
  ])('%s with a full context → %s', (hex, code) => {
    const ctx = fullContext();
    const before = ctx.toJSON();
    const r = decodeTemporal(bytesOf(hex.replaceAll(' ', '')), undefined, ctx);
    expect(r.ok ? 'ok' : r.code).toBe(code);
    if (!r.ok) expect(ctx.toJSON()).toEqual(before);
  });

  it('reports an out-of-sync context', () => {
    const ctx = new TemporalContext();
    expect(decodeTemporal(bytesOf('7106808080808080'), LAYOUT, ctx)).toMatchObject({
      ok: false,
      code: 'no_context',
    });
    const full = fullContext();
    const r = decodeTemporal(bytesOf('70060001050906077d09b1004900eb1046005d02'), LAYOUT, full);
    expect(r.ok && r.notes[0]).toMatch(/out of sync/);
  });
});

describe('TemporalContext serialisation', () => {
  it('round-trips through JSON and keeps encoding identically', () => {
    const ctx = fullContext();
    const copy = TemporalContext.fromJSON(JSON.parse(JSON.stringify(ctx)));
    if (!copy) throw new Error('rejected its own JSON');
    expect(copy.toJSON()).toEqual(ctx.toJSON());
    expect(TemporalContext.fromJSON(JSON.stringify(ctx))?.toJSON()).toEqual(ctx.toJSON());
    const sample = [2410, 171, 69, 4210, 66, 551];
    expect(hexOf(encodeTemporal(sample, LAYOUT, copy))).toBe(hexOf(encodeTemporal(sample, LAYOUT, ctx)));
    expect(ctx.clone().toJSON()).toEqual(ctx.toJSON());
  });

  it('rejects anything that is not a context', () => {
    const good = fullContext().toJSON();
    const bad: unknown[] = [
      null,
      42,
      '{',
      {},
      { ...good, v: 2 },
      { ...good, table: good.table.slice(1) },
      { ...good, table: [...good.table.slice(1), 65536] },
      { ...good, table: [...good.table.slice(1), 1.5] },
      { ...good, writeIndex: 8 },
      { ...good, lastCount: -1 },
      { ...good, lastRegisters: [...good.lastRegisters.slice(1), 256] },
      { ...good, full: 1 },
    ];
    for (const x of bad) expect(TemporalContext.fromJSON(x)).toBeUndefined();
  });
});

describe('temporal properties', () => {
  const regArb = fc.integer({ min: 0, max: 9 });
  // Mostly layouts the device can send as 0x71; some that overflow its context.
  const layoutArb = fc.oneof(
    { weight: 4, arbitrary: fc.array(regArb, { minLength: 1, maxLength: 10 }) },
    { weight: 1, arbitrary: fc.array(regArb, { minLength: 11, maxLength: 14 }) },
  );
  const valueArb = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 990, max: 1010 }));
  const stepArb = fc.record({
    pick: fc.integer({ min: 0, max: 9 }), // layout 0 eight times in ten
    values: fc.array(valueArb, { minLength: 14, maxLength: 14 }),
  });

  it('decodes every encoded frame on a mirrored context, staying in sync', () => {
    let deltas = 0;
    fc.assert(
      fc.property(
        fc.array(layoutArb, { minLength: 1, maxLength: 2 }),
        fc.array(stepArb, { minLength: 10, maxLength: 40 }),
        (layouts, steps) => {
          const enc = new TemporalContext();
          let dec = new TemporalContext();
          steps.forEach((step, k) => {
            const layout = layouts[step.pick < 8 ? 0 : layouts.length - 1];
            const values = step.values.slice(0, layout.length);
            const frame = encodeTemporal(values, layout, enc);
            const r = decodeTemporal(frame, layout, dec);
            if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
            if (r.method === 'temporal_delta') deltas++;
            expect(r.values).toEqual(values);
            expect(r.quality.every((q) => q === 'exact')).toBe(true);
            expect(dec.toJSON()).toEqual(enc.toJSON());
            // The server stores the context between packets.
            if (k % 5 === 4) dec = TemporalContext.fromJSON(JSON.parse(JSON.stringify(dec))) ?? dec;
          });
        },
      ),
      { numRuns: 500 },
    );
    expect(deltas).toBeGreaterThan(500); // the 0x71 path is really exercised
  });
});
