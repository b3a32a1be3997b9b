import { describe, expect, it } from 'vitest';
import { bitWidth, compressBinary, encodeBitPacked } from '../../../../src/protocol/codecs/bitpack.js';
import {
  DeviceCompressor,
  DICTIONARY_LEARN_LIMIT,
  methodLabelForFirstByte,
} from '../../../../src/protocol/codecs/device-compressor.js';
import { DEVICE_PATTERNS } from '../../../../src/protocol/codecs/dictionary.js';
import { encodeRaw } from '../../../../src/protocol/codecs/raw.js';
import { BATCH_POSITIONS } from '../../../../src/protocol/registers.js';
import { API, type CompressionVector, sequenceOf, sequences, toHex, VECTORS } from './compression-fixture.js';

/** Runs one vector's API call on `device`; undefined for APIs the compressor does not model. */
function run(device: DeviceCompressor, v: CompressionVector): { hex: string; label?: string } {
  const { input_values: values, registers } = v;
  switch (v.api) {
    case API.smart: {
      const r = device.compressWithSmartSelection(values, registers);
      return { hex: toHex(r.bytes), label: r.label };
    }
    case API.batch: {
      const r = device.compressBatch(values);
      return { hex: toHex(r.bytes), label: r.label };
    }
    case API.dictionary:
      return { hex: toHex(device.compressWithDictionary(values, registers)) };
    case API.temporal:
      return { hex: toHex(device.compressWithTemporalDelta(values, registers)) };
    case API.semantic:
      return { hex: toHex(device.compressWithSemanticRLE(values, registers)) };
    case 'DataCompression::compressBinary':
      return { hex: toHex(compressBinary(values)) };
    case 'DataCompression::storeAsRawBinary':
      return { hex: toHex(encodeRaw(values)) };
    case 'DataCompression::compressBinaryBitPacked':
      return { hex: toHex(encodeBitPacked(values, bitWidth(values))) };
    default:
      throw new Error(`unmodelled api ${v.api}`);
  }
}

describe('DeviceCompressor reproduces the firmware', () => {
  for (const v of VECTORS.filter((x) => sequenceOf(x) === undefined)) {
    it(`${v.id} (${v.api})`, () => {
      const out = run(new DeviceCompressor(), v);
      expect(out.hex).toBe(v.output_hex);
      if (v.device_label !== null) expect(out.label).toBe(v.device_label);
    });
  }

  for (const [name, steps] of sequences()) {
    it(`replays ${name} (${steps.length} steps) on one compressor`, () => {
      const device = new DeviceCompressor();
      for (const v of steps) {
        const out = run(device, v);
        expect(`${v.id}: ${out.hex}`).toBe(`${v.id}: ${v.output_hex}`);
        if (v.device_label !== null) expect(out.label).toBe(v.device_label);
      }
    });
  }
});

describe('DeviceCompressor state', () => {
  it('learns an unmatched input as a pattern after choosing, then uses it', () => {
    const device = new DeviceCompressor();
    const regs = [0, 1, 5, 9, 6, 7];
    expect(toHex(device.compressWithSmartSelection([0, 0, 0, 0, 0, 0], regs).bytes)).toBe(
      '000000000000000000000000',
    );
    expect(device.patterns).toHaveLength(5);
    expect(device.patterns[4]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(toHex(device.compressWithSmartSelection([0, 0, 0, 0, 0, 0], regs).bytes)).toBe('d004060000');
  });

  it('learns at most 15 patterns', () => {
    const device = new DeviceCompressor();
    for (let k = 0; k < 30; k++) device.compressWithSmartSelection([60000 - k * 1000], [2]);
    expect(device.patterns).toHaveLength(DICTIONARY_LEARN_LIMIT);
  });

  it('keeps the last sample of a batch when learning from it', () => {
    const device = new DeviceCompressor();
    const values = BATCH_POSITIONS.map((_, i) => 10 + i);
    device.compressBatch(values);
    // RegIDs [0,1,5,9,6,7] of sample 5 = positions 24..29.
    expect(device.patterns[4]).toEqual([34, 35, 0, 0, 0, 36, 38, 39, 0, 37]);
  });

  it('does not learn on direct dictionary calls', () => {
    const device = new DeviceCompressor();
    device.compressWithDictionary([0, 0], [0, 1]);
    expect(device.patterns).toEqual(DEVICE_PATTERNS);
  });

  it('advances the temporal context on every smart call, whatever wins', () => {
    const device = new DeviceCompressor();
    for (let k = 0; k < 8; k++)
      device.compressWithSmartSelection([2400, 170, 70, 4200, 65, 550], [0, 1, 5, 9, 6, 7]);
    expect(device.temporal.full).toBe(true);
    expect(device.temporal.writeIndex).toBe(0);
  });

  it('leaves all state alone for an empty input', () => {
    const device = new DeviceCompressor();
    expect(device.compressWithSmartSelection([], []).bytes).toHaveLength(0);
    expect(device.temporal.writeIndex).toBe(0);
    expect(device.patterns).toHaveLength(4);
  });

  it('labels by first byte only', () => {
    expect(methodLabelForFirstByte(0xd0)).toBe('DICTIONARY');
    expect(methodLabelForFirstByte(0x70)).toBe('TEMPORAL');
    expect(methodLabelForFirstByte(0x71)).toBe('TEMPORAL');
    expect(methodLabelForFirstByte(0x50)).toBe('SEMANTIC');
    expect(methodLabelForFirstByte(0x00)).toBe('BITPACK');
    expect(methodLabelForFirstByte(0x01)).toBe('BITPACK');
    expect(methodLabelForFirstByte(0x4b)).toBe('BITPACK');
  });
});
