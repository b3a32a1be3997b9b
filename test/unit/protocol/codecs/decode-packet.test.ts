import { describe, expect, it } from 'vitest';
import {
  type DeviceBinaryResult,
  decodeDeviceCompressedBinary,
  decodePacket,
  followTemporalMirror,
  labelForFirstByte,
} from '../../../../src/protocol/codecs/decode-packet.js';
import { DeviceCompressor } from '../../../../src/protocol/codecs/device-compressor.js';
import { decodeDictionary } from '../../../../src/protocol/codecs/dictionary.js';
import { encodeE1 } from '../../../../src/protocol/codecs/lossless-e1.js';
import { decodeRawHeaderless } from '../../../../src/protocol/codecs/raw.js';
import { TemporalContext } from '../../../../src/protocol/codecs/temporal.js';
import { BATCH_POSITIONS } from '../../../../src/protocol/registers.js';
import {
  API,
  ambiguousByteNotes,
  bytesOf,
  type CompressionVector,
  sequenceOf,
  sequences,
  VECTORS,
} from './compression-fixture.js';

const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** The temporal context the device held just before each sequence step (replayed from inputs). */
function mirrorsBeforeEachStep(): Map<string, TemporalContext> {
  const out = new Map<string, TemporalContext>();
  for (const steps of sequences().values()) {
    const device = new DeviceCompressor();
    for (const v of steps) {
      out.set(v.id, device.temporal.clone());
      if (v.api === API.smart) device.compressWithSmartSelection(v.input_values, v.registers);
      else if (v.api === API.temporal) device.compressWithTemporalDelta(v.input_values, v.registers);
      else throw new Error(`unexpected api in a sequence: ${v.api}`);
    }
  }
  return out;
}
const mirrors = mirrorsBeforeEachStep();

/** The vector contract of the brief, for any decode result of vector `v`. */
function checkAgainstVector(v: CompressionVector, r: DeviceBinaryResult, lengthKnown = true): void {
  if (v.faithful_decode === null) {
    // Not recoverable: missing values or a typed error, never numbers.
    if (r.ok) {
      expect(r.values.every((x) => x === null)).toBe(true);
      expect(r.quality.every((q) => q === 'missing')).toBe(true);
    } else {
      expect(r.code).toMatch(/^[a-z_]+$/);
    }
    return;
  }
  expect(r.ok, r.ok ? '' : `${r.code}: ${r.message}`).toBe(true);
  if (!r.ok) return;
  expect(r.values).toHaveLength(v.input_values.length);
  expect(r.quality).toHaveLength(v.input_values.length);
  const dictionary = v.method === 'dictionary' ? decodeDictionary(bytesOf(v), v.registers) : undefined;
  const candidates = new Map(
    dictionary?.ok ? dictionary.ambiguities.map((a) => [a.position, a.candidates]) : [],
  );
  expect(candidates.size).toBe(ambiguousByteNotes(v));
  r.values.forEach((value, i) => {
    const q = r.quality[i];
    if (q === 'exact') expect(value, `position ${i}`).toBe(v.input_values[i]);
    expect(value === null).toBe(q === 'missing');
    const allowed = candidates.get(i);
    // Without compressed_size_bytes a short stream can have several lengths: those values are
    // ambiguous, whatever they read as.
    if (!lengthKnown && q === 'ambiguous' && !allowed) return;
    if (allowed) {
      expect(q).toBe('ambiguous');
      expect(allowed).toContain(value);
    } else {
      expect(value, `position ${i}`).toBe(v.faithful_decode?.[i]);
    }
  });
  if (v.lossless && lengthKnown) expect(r.values).toEqual(v.input_values);
  if (v.lossless === false) expect(r.quality.every((q) => q === 'exact')).toBe(false);
}

function optionsFor(v: CompressionVector) {
  const mirror = mirrors.get(v.id);
  return { registers: v.registers, temporal: mirror?.clone() };
}

describe('decodePacket over every field vector', () => {
  it('covers all 70 vectors', () => expect(VECTORS).toHaveLength(70));

  for (const v of VECTORS) {
    it(`${v.id} (${v.method})`, () => {
      checkAgainstVector(v, decodePacket(bytesOf(v), optionsFor(v)));
    });

    it(`${v.id} via device_compressed_binary cut to output_len`, () => {
      checkAgainstVector(
        v,
        decodeDeviceCompressedBinary(v.device_compressed_binary, v.output_len, optionsFor(v)),
      );
    });

    it(`${v.id} via device_compressed_binary without a length`, () => {
      const r = decodeDeviceCompressedBinary(v.device_compressed_binary, undefined, optionsFor(v));
      checkAgainstVector(v, r, false);
      // Batches and other n > 8 packets have no header-less readings: the length is never in doubt.
      if (v.registers.length > 8) {
        const known = decodePacket(bytesOf(v), optionsFor(v));
        expect(r.ok && { values: r.values, quality: r.quality }).toEqual(
          known.ok && { values: known.values, quality: known.quality },
        );
      }
    });
  }

  it('names the wire format of every decodable vector', () => {
    for (const v of VECTORS) {
      const r = decodePacket(bytesOf(v), optionsFor(v));
      if (r.ok) expect(`${v.id}: ${r.method}`).toBe(`${v.id}: ${v.method}`);
    }
  });
});

describe('decodePacket dispatch', () => {
  it('defaults to the 30-value batch layout', () => {
    const r = decodePacket(hexBytes('d0001e0000'));
    expect(r.ok && r.values).toHaveLength(30);
  });

  it('refuses 0x71 without a mirrored context', () => {
    const r = decodePacket(hexBytes('7106c28080808080'), { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({ ok: false, code: 'no_context' });
  });

  it('keeps a context-less 0x71 a temporal delta even when a header-less reading would fit', () => {
    // n = 6 in 12 bytes: six tagged deltas, and equally six header-less raw u16 values.
    const bytes = hexBytes('7106 00c8 00c8 00c8 00c8 80 80');
    expect(decodeRawHeaderless(bytes, 6).ok).toBe(true);
    const r = decodePacket(bytes, { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({ ok: false, code: 'no_context' });
  });

  it('falls back to header-less data when the marker parse fails (first byte 0x01)', () => {
    const r = decodePacket(hexBytes('014bb80647d0032fa0'), { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({
      ok: true,
      method: 'bitpacked_headerless',
      values: [20, 3000, 100, 2000, 50, 4000],
    });
    expect(r.ok && r.quality.every((q) => q === 'exact')).toBe(true);
  });

  it('prefers a valid header over an equally valid header-less reading, and says so', () => {
    const r = decodePacket(hexBytes('010806c89682ff818c'), { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({ ok: true, method: 'bitpacked', values: [200, 150, 130, 255, 129, 140] });
    expect(r.ok && r.notes.join(' ')).toMatch(/header-less/);
  });

  it('reports an unknown first byte for batches (header-less needs n ≤ 8)', () => {
    expect(decodePacket(hexBytes('4be80000930000000974'))).toMatchObject({
      ok: false,
      code: 'unknown_marker',
    });
  });

  it('reports a header-less stream no width explains', () => {
    const r = decodePacket(hexBytes('4be800'), { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({ ok: false, code: 'unknown_marker' });
  });

  it('handles empty input', () => {
    expect(decodePacket(new Uint8Array(0), { registers: [] })).toMatchObject({
      ok: true,
      method: 'empty',
      values: [],
    });
    expect(decodePacket(new Uint8Array(0))).toMatchObject({ ok: false, code: 'empty' });
  });

  it('decodes E1 and checks its count only against a caller-given layout', () => {
    const samples = [
      [2429, 177, 73, 4331, 70, 605],
      [2430, 170, 75, 4300, 71, 606],
    ];
    const bytes = encodeE1(samples, [0, 1, 5, 9, 6, 7]);
    expect(decodePacket(bytes)).toMatchObject({ ok: true, method: 'lossless_e1', values: samples.flat() });
    const twelve = BATCH_POSITIONS.slice(0, 12);
    expect(decodePacket(bytes, { registers: twelve })).toMatchObject({ ok: true, values: samples.flat() });
    expect(decodePacket(bytes, { registers: BATCH_POSITIONS })).toMatchObject({
      ok: false,
      code: 'bad_count',
    });
  });

  it('labels like the device', () => {
    expect(labelForFirstByte(0xd0, true)).toBe('BATCH_DICTIONARY');
    expect(labelForFirstByte(0x71, false)).toBe('TEMPORAL');
    expect(labelForFirstByte(0x50, true)).toBe('BATCH_SEMANTIC');
    expect(labelForFirstByte(0x00, true)).toBe('BATCH_BITPACK');
    expect(labelForFirstByte(0x4b, false)).toBe('BITPACK');
  });
});

describe('decodeDeviceCompressedBinary', () => {
  it('rejects text that is not base64', () => {
    expect(decodeDeviceCompressedBinary('not base64!', undefined)).toMatchObject({
      ok: false,
      code: 'bad_base64',
    });
    expect(decodeDeviceCompressedBinary('not base64!', 4)).toMatchObject({ ok: false, code: 'bad_base64' });
  });

  it('rejects a length longer than the data or cutting real bytes', () => {
    expect(decodeDeviceCompressedBinary('0AAGAAAA', 7)).toMatchObject({ ok: false, code: 'truncated' });
    expect(decodeDeviceCompressedBinary('0AAGJAD//wAA', 5)).toMatchObject({
      ok: false,
      code: 'trailing_bytes',
    });
    expect(decodeDeviceCompressedBinary('0AAGAAAA', 2.5)).toMatchObject({ ok: false, code: 'bad_count' });
  });

  it('infers the real length of a device string when none is given', () => {
    const r = decodeDeviceCompressedBinary('0AAGAAAA', undefined, { registers: [0, 1, 5, 9, 6, 7] });
    expect(r).toMatchObject({ ok: true, method: 'dictionary', values: [2400, 170, 70, 4200, 65, 550] });
  });
});

describe('followTemporalMirror', () => {
  const regs = [0, 1, 5, 9, 6, 7];

  it('lets a server follow a device whose packets decode exactly, up to 0x71', () => {
    const device = new DeviceCompressor();
    const mirror = new TemporalContext();
    // Values that stay exact whatever wins (dictionary deltas in 0..63).
    for (let k = 0; k < 12; k++) {
      const values = [2400 + k, 170, 70, 4200 + 2 * k, 65, 550];
      const { bytes } = device.compressWithSmartSelection(values, regs);
      const r = decodePacket(bytes, { registers: regs, temporal: mirror });
      expect(r.ok && r.values).toEqual(values);
      expect(followTemporalMirror(mirror, r, regs)).toBe(true);
    }
  });

  it('follows the direct temporal sequence, 0x70 → 0x71, on one mirror', () => {
    const steps = sequences().get('seq-temporal-direct') ?? [];
    const mirror = new TemporalContext();
    for (const v of steps) {
      const r = decodePacket(bytesOf(v), { registers: v.registers, temporal: mirror });
      expect(r.ok && r.values).toEqual(v.input_values);
    }
  });

  it('tells the caller when a lossy packet breaks the mirror', () => {
    const v = VECTORS.find((x) => x.id === 'seq-smart-single-steady/step01');
    if (!v || sequenceOf(v) === undefined) throw new Error('vector missing');
    const r = decodePacket(bytesOf(v), { registers: v.registers });
    expect(followTemporalMirror(new TemporalContext(), r, v.registers)).toBe(false);
  });
});
