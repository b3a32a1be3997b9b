/**
 * Every firmware 1.3 compression vector: the decoder recovers `faithful_decode` (and never calls a
 * value exact that differs from the input), and the encoders reproduce `output_hex` byte for byte.
 */
import { describe, expect, it } from 'vitest';
import {
  type Aggregation13Summary,
  compressSmart13,
  decodeAggregation13,
  decodePacket13,
  encodeAggregation13,
  encodeBitpack13,
  encodeDictionaryD0,
  encodeSemantic13,
  encodeTemporal13,
  labelForBytes13,
  type Packet13Result,
  Temporal13Context,
  Temporal13State,
} from '../../../../src/protocol/gen13/index.js';
import { bytesOf, COMPRESSION, type CompressionVector, hexOf, SEQUENCES, sequence } from './fixtures.js';

const METHOD_OF_FORMAT: Record<string, string> = {
  dictionary_float: 'dictionary_float',
  bitpack: 'bitpacked',
  temporal_base: 'temporal_base',
  temporal_delta: 'temporal_delta',
  semantic_rle: 'semantic_rle',
  aggregation: 'aggregation',
};

function summaryOf(fd: Record<string, unknown>): Aggregation13Summary {
  return {
    mode: fd.mode as number,
    sampleCount: fd.sample_count as number,
    registerCount: fd.register_count as number,
    tStart: fd.t_start as number,
    tEnd: fd.t_end as number,
    registers: fd.registers as number[],
    min: fd.min as number[],
    max: fd.max as number[],
    avg: fd.avg as number[] | null,
  };
}

function expectFaithful(r: Packet13Result, v: CompressionVector): void {
  if (!r.ok) throw new Error(`${v.id}: ${r.code} ${r.message}`);
  expect(r.method).toBe(METHOD_OF_FORMAT[v.format]);
  if (v.format === 'aggregation') {
    expect(r.summary).toEqual(summaryOf(v.faithful_decode as Record<string, unknown>));
    expect(r.quality.every((q) => q === 'missing')).toBe(true);
    return;
  }
  expect(r.values).toEqual(v.faithful_decode);
  r.quality.forEach((q, i) => {
    if (q === 'exact') expect(`${v.id}[${i}] ${r.values[i]}`).toBe(`${v.id}[${i}] ${v.input_values[i]}`);
  });
  // Semantic types 2/3/5 keep only a low byte: even a value that happens to be right is not proven.
  if (v.lossless && v.format !== 'semantic_rle') expect(r.quality.every((q) => q === 'exact')).toBe(true);
  if (!v.lossless) expect(r.quality.some((q) => q !== 'exact')).toBe(true);
}

const fresh = COMPRESSION.filter((v) => v.state === 'fresh');

describe('decoding the 1.3 vectors', () => {
  it('has the vectors it expects', () => {
    expect(COMPRESSION.length).toBe(68);
    expect(SEQUENCES.sort()).toEqual(['seq-smart-1x3', 'seq-smart-3x10', 'seq-temporal-1x3']);
  });

  it.each(fresh.filter((v) => v.faithful_decode !== null).map((v) => [v.id, v] as const))(
    '%s decodes to faithful_decode',
    (_id, v) => {
      expectFaithful(decodePacket13(bytesOf(v.output_hex), { registers: v.registers }), v);
    },
  );

  it('the one null faithful_decode (count byte wrapped) is recovered exactly from the caller’s n', () => {
    // Decision (see the report): with n from the metadata and the exact length, every index is
    // fixed, so this packet is not lossy for a decoder that does not trust the u8 header.
    const nulls = COMPRESSION.filter((v) => v.faithful_decode === null);
    expect(nulls.map((v) => v.id)).toEqual(['dict-direct-26x10-count-wraps']);
    const v = nulls[0];
    const bytes = bytesOf(v.output_hex);
    const r = decodePacket13(bytes, { registers: v.registers });
    if (!r.ok) throw new Error(r.message);
    expect(r.values).toEqual(v.input_values);
    expect(r.quality.every((q) => q === 'exact')).toBe(true);
    expect(r.notes.join(' ')).toMatch(/wrapped/);
    // A decoder trusting the header (n = 4) must fail, and so must any other n ≡ 4 mod 256.
    for (const n of [4, 516]) {
      const wrong = decodePacket13(bytes, { registers: new Array(n).fill(0) });
      expect(wrong.ok).toBe(false);
    }
  });

  it.each(SEQUENCES)('%s replays on one context (joined at step 0, nothing known)', (name) => {
    const ctx = Temporal13Context.unknown();
    for (const v of sequence(name)) {
      expectFaithful(decodePacket13(bytesOf(v.output_hex), { registers: v.registers, context: ctx }), v);
      // The context survives storage between packets.
      const restored = Temporal13Context.fromJSON(ctx.serialize());
      expect(restored?.toJSON()).toEqual(ctx.toJSON());
    }
  });

  it.each(SEQUENCES)('%s replays on a boot context and tracks the encoder state exactly', (name) => {
    const ctx = Temporal13Context.boot();
    const state = new Temporal13State();
    for (const v of sequence(name)) {
      expectFaithful(decodePacket13(bytesOf(v.output_hex), { registers: v.registers, context: ctx }), v);
      if (v.api.endsWith('compressWithSmartSelection')) compressSmart13(v.registers, v.input_values, state);
      else encodeTemporal13(v.input_values, v.registers, state);
      expect(ctx.toJSON()).toEqual(Temporal13Context.fromState(state).toJSON());
    }
  });

  it('a 0x71 whose history the decoder cannot have fails with no_context', () => {
    const steps = sequence('seq-smart-1x3');
    const first71 = steps.findIndex((v) => v.first_byte === '0x71');
    expect(first71).toBe(8);
    const v = steps[first71];
    // No context at all, a context that missed everything, and one that missed step 7.
    expect(decodePacket13(bytesOf(v.output_hex), { registers: v.registers })).toMatchObject({
      ok: false,
      code: 'no_context',
    });
    expect(
      decodePacket13(bytesOf(v.output_hex), { registers: v.registers, context: Temporal13Context.unknown() }),
    ).toMatchObject({ ok: false, code: 'no_context' });
    const ctx = Temporal13Context.unknown();
    for (const s of steps.slice(0, first71 - 1))
      decodePacket13(bytesOf(s.output_hex), { registers: s.registers, context: ctx });
    ctx.observe(v.registers, null); // step 7 arrived but could not be read
    expect(decodePacket13(bytesOf(v.output_hex), { registers: v.registers, context: ctx })).toMatchObject({
      ok: false,
      code: 'no_context',
    });
    // Each delta that cannot be read leaves its own row unknown, so a stream of deltas never
    // recovers by itself: every later 0x71 of the sequence fails the same way.
    for (const later of steps.slice(first71 + 1)) {
      expect(
        decodePacket13(bytesOf(later.output_hex), { registers: later.registers, context: ctx }),
      ).toMatchObject({ ok: false, code: 'no_context' });
    }
  });

  it('labels every vector as the upload path does', () => {
    for (const v of COMPRESSION.filter((x) => x.device_label !== null)) {
      expect(`${v.id} ${labelForBytes13(bytesOf(v.output_hex))}`).toBe(`${v.id} ${v.device_label}`);
    }
  });
});

describe('re-encoding the 1.3 vectors', () => {
  const direct: Record<string, (v: CompressionVector) => Uint8Array> = {
    'DataCompression::compressWithSmartSelection': (v) =>
      compressSmart13(v.registers, v.input_values, new Temporal13State()),
    'DataCompression::compressWithDictionary': (v) => encodeDictionaryD0(v.input_values),
    'DataCompression::compressWithSemanticRLE': (v) => encodeSemantic13(v.input_values, v.registers),
    'DataCompression::compressBinary': (v) => encodeBitpack13(v.input_values),
  };

  it.each(fresh.filter((v) => v.format !== 'aggregation').map((v) => [v.id, v] as const))('%s', (_id, v) => {
    const encode = direct[v.api];
    expect(encode).toBeDefined();
    expect(hexOf(encode(v))).toBe(v.output_hex);
  });

  it.each(SEQUENCES)('%s, replayed on one encoder', (name) => {
    const state = new Temporal13State();
    for (const v of sequence(name)) {
      const out = v.api.endsWith('compressWithSmartSelection')
        ? compressSmart13(v.registers, v.input_values, state)
        : encodeTemporal13(v.input_values, v.registers, state);
      expect(`${v.id} ${hexOf(out)}`).toBe(`${v.id} ${v.output_hex}`);
      // The encoder state survives storage between batches.
      const restored = Temporal13State.fromJSON(JSON.stringify(state));
      expect(restored?.toJSON()).toEqual(state.toJSON());
    }
  });

  it.each(COMPRESSION.filter((v) => v.format === 'aggregation').map((v) => [v.id, v] as const))(
    '%s (summary of the inputs, serialised)',
    (_id, v) => {
      const fd = summaryOf(v.faithful_decode as Record<string, unknown>);
      const k = v.register_layout.length;
      const column = (r: number) => v.input_values.filter((_x, i) => i % k === r);
      expect(fd.min).toEqual(v.register_layout.map((_r, i) => Math.min(...column(i))));
      expect(fd.max).toEqual(v.register_layout.map((_r, i) => Math.max(...column(i))));
      if (fd.avg) {
        expect(fd.avg).toEqual(
          v.register_layout.map((_r, i) => Math.floor(column(i).reduce((a, b) => a + b, 0) / v.sample_count)),
        );
      }
      expect([fd.tStart, fd.tEnd]).toEqual([v.timestamps_ms_u32?.[0], v.timestamps_ms_u32?.at(-1)]);
      expect(hexOf(encodeAggregation13(fd))).toBe(v.output_hex);
      expect(decodeAggregation13(bytesOf(v.output_hex))).toEqual({ ok: true, summary: fd });
    },
  );
});
