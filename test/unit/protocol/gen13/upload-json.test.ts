import { describe, expect, it } from 'vitest';
import {
  buildUpload13,
  COMPRESSED_BINARY13_MAX,
  compressSmart13,
  decodeCompressedBinary13,
  decodeUploadPacket13,
  encodeBitpack13,
  formatArduinoJsonFloat,
  packetRegisters13,
  parseUpload13,
  seal13,
  Temporal13Context,
  Temporal13State,
  type Upload13,
  type Upload13Input,
} from '../../../../src/protocol/gen13/index.js';
import { bytesOf, hexOf, PSK, UPLOADS, type UploadVector } from './fixtures.js';

function inputOf(v: UploadVector): Upload13Input {
  return {
    deviceId: v.device_id,
    timestamp: v.wall_clock_unix_s,
    samplingInterval: v.nvs_config.sampling_interval_s,
    packets: v.reads.map((read, i) => ({
      bytes: bytesOf(v.packets_hex[i]),
      registerLayout: read.register_layout,
      sampleCount: read.register_values.length,
      lastSampleMs: read.sample_timestamps_ms.at(-1) as number,
    })),
  };
}

function parsed(text: string): Upload13 {
  const r = parseUpload13(JSON.parse(text));
  if (!r.ok) throw new Error(r.message);
  return r.doc;
}

describe('uploads.json', () => {
  it.each(UPLOADS.map((v) => [v.id, v] as const))(
    '%s: packets, plaintext and envelopes byte for byte',
    (_id, v) => {
      const state = new Temporal13State();
      v.reads.forEach((read, i) => {
        const registers = read.register_values.flatMap(() => read.register_layout);
        expect(hexOf(compressSmart13(registers, read.register_values.flat(), state))).toBe(v.packets_hex[i]);
      });
      const plaintext = buildUpload13(inputOf(v));
      for (const request of v.requests) {
        expect(plaintext).toBe(request.plaintext_json);
        expect(seal13(plaintext, request.nonce, PSK)).toBe(request.body);
      }
    },
  );

  it.each(UPLOADS.map((v) => [v.id, v] as const))('%s: parsed and decoded back to the reads', (_id, v) => {
    const doc = parsed(v.requests[0].plaintext_json);
    expect(doc).toMatchObject({
      deviceId: 'ESP32_001',
      timestamp: v.wall_clock_unix_s,
      samplingInterval: v.nvs_config.sampling_interval_s,
      notes: [],
    });
    const context = Temporal13Context.unknown();
    doc.packets.forEach((p, i) => {
      const read = v.reads[i];
      expect(p).toEqual({
        index: i,
        compressedBinary: Buffer.from(v.packets_hex[i], 'hex').toString('base64'),
        bytes: new Uint8Array(Buffer.from(v.packets_hex[i], 'hex')),
        label: 'bitpack',
        registerCount: read.register_layout.length,
        sampleCount: read.register_values.length,
        compressedSize: v.packets_hex[i].length / 2,
        registerLayout: read.register_layout,
        deviceTimestamp: (read.sample_timestamps_ms.at(-1) as number) % 2 ** 32,
        problem: null,
      });
      const r = decodeUploadPacket13(p, context);
      if (!r.ok) throw new Error(r.message);
      expect(r.values).toEqual(read.register_values.flat());
      expect(r.quality.every((q) => q === 'exact')).toBe(true);
    });
  });
});

describe('formatArduinoJsonFloat', () => {
  it('prints float ratios as ArduinoJson 6.21 does', () => {
    const f = (x: number) => formatArduinoJsonFloat(Math.fround(x));
    expect(f(52 / 60)).toBe('0.866666675');
    expect(f(60 / 52)).toBe('1.153846145');
    expect(f(8 / 6)).toBe('1.333333373');
    expect(f(0.75)).toBe('0.75');
    expect(f(1)).toBe('1');
    expect(f(0)).toBe('0');
    expect(f(-0)).toBe('0');
    expect(f(-33.33333588)).toBe('-33.33333588');
    expect(formatArduinoJsonFloat(1e7)).toBe('1e7');
    expect(formatArduinoJsonFloat(12345678.9)).toBe('1.23456789e7');
    expect(formatArduinoJsonFloat(0.5e-5)).toBe('5e-6');
    expect(formatArduinoJsonFloat(Number.NaN)).toBe('null');
    expect(formatArduinoJsonFloat(Number.POSITIVE_INFINITY)).toBe('null');
    expect(formatArduinoJsonFloat(0.9999999999)).toBe('1');
  });
});

describe('buildUpload13', () => {
  it('escapes strings as ArduinoJson does and keeps positions as mapping keys', () => {
    const text = buildUpload13({
      deviceId: 'a"b\\c\nd/é\u0001',
      timestamp: 1,
      samplingInterval: 0,
      packets: [
        { bytes: bytesOf('010803000000'), registerLayout: [9], sampleCount: 3, lastSampleMs: 2 ** 32 + 5 },
      ],
    });
    expect(text).toContain('"device_id":"a\\"b\\\\c\\nd/é\u0001"');
    expect(text).toContain('"register_mapping":{"0":"Pac"}');
    expect(text).toContain('"timestamp":5,');
  });

  it('an upload without packets still has the firmware shape', () => {
    expect(buildUpload13({ deviceId: 'd', timestamp: 1, samplingInterval: 5, packets: [] })).toBe(
      '{"device_id":"d","timestamp":1,"data_type":"compressed_sensor_batch","total_samples":0,' +
        '"sampling_interval":5,"register_mapping":{},"compressed_data":[],"session_summary":' +
        '{"total_original_bytes":0,"total_compressed_bytes":0,"overall_academic_ratio":1,"overall_savings_percent":0}}',
    );
  });

  it('rejects layouts the firmware cannot have', () => {
    const packet = { bytes: bytesOf('010803000000'), registerLayout: [10], sampleCount: 3, lastSampleMs: 0 };
    expect(() =>
      buildUpload13({ deviceId: 'd', timestamp: 1, samplingInterval: 5, packets: [packet] }),
    ).toThrow(RangeError);
  });
});

describe('truncated compressed_binary', () => {
  // 100 sixteen-bit values: 203 bytes, which the firmware cuts to 189 in compressed_binary.
  const values = Array.from({ length: 100 }, (_, i) => (i * 997 + 40000) & 0xffff);
  const bytes = encodeBitpack13(values);
  const text = buildUpload13({
    deviceId: 'ESP32_001',
    timestamp: 1765000000,
    samplingInterval: 5,
    packets: [{ bytes, registerLayout: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], sampleCount: 10, lastSampleMs: 0 }],
  });

  it('is cut like the firmware cuts it and is reported as truncated, never decoded', () => {
    expect(bytes.length).toBe(203);
    const doc = parsed(text);
    const p = doc.packets[0];
    expect(Buffer.from(p.compressedBinary as string, 'base64')).toEqual(
      Buffer.from(bytes.subarray(0, COMPRESSED_BINARY13_MAX)),
    );
    expect(p.compressedSize).toBe(203);
    expect(p.problem).toMatch(/189 of 203 bytes/);
    expect(decodeCompressedBinary13(p.compressedBinary as string, 203)).toMatchObject({
      ok: false,
      code: 'truncated',
    });
    const ctx = Temporal13Context.boot();
    expect(decodeUploadPacket13(p, ctx)).toMatchObject({ ok: false, code: 'truncated' });
    // The device's temporal state still moved on: the mirror followed the layout.
    expect(ctx.lastCount).toBe(100);
  });

  it('189 bytes and fewer arrive whole', () => {
    const whole = encodeBitpack13(values.slice(0, 93)); // 3 + 186
    expect(whole.length).toBe(189);
    expect(decodeCompressedBinary13(Buffer.from(whole).toString('base64'), 189)).toEqual({
      ok: true,
      bytes: whole,
    });
    expect(decodeCompressedBinary13('AQgDAAAA', 5)).toMatchObject({ ok: false, code: 'trailing_bytes' });
    for (const bad of ['AQ*D', 'AQgDAAA', 'AQgDAAB=', 'AQgDAA']) {
      expect(decodeCompressedBinary13(bad, 5)).toMatchObject({ ok: false, code: 'bad_base64' });
    }
    expect(decodeCompressedBinary13('AQgDAAA=')).toEqual({ ok: true, bytes: bytesOf('0108030000') });
  });
});

describe('parseUpload13', () => {
  const good = JSON.parse(UPLOADS[0].requests[0].plaintext_json);

  it('a malformed document fails as a whole', () => {
    const cases: [unknown, RegExp][] = [
      [null, /object/],
      [[], /object/],
      [{ ...good, device_id: '' }, /device_id/],
      [{ ...good, timestamp: -1 }, /timestamp/],
      [{ ...good, timestamp: '1765000000' }, /timestamp/],
      [{ ...good, data_type: 'sensor_batch' }, /data_type/],
      [{ ...good, sampling_interval: 1.5 }, /sampling_interval/],
      [{ ...good, compressed_data: {} }, /compressed_data/],
    ];
    for (const [doc, message] of cases) {
      const r = parseUpload13(doc);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
    }
  });

  it('a malformed packet entry is marked and does not sink the others', () => {
    const [p0] = good.compressed_data;
    const meta = p0.decompression_metadata;
    const broken: [unknown, RegExp][] = [
      ['x', /not an object/],
      [{ ...p0, compressed_binary: 5 }, /compressed_binary/],
      [{ ...p0, compressed_binary: 'AQ*D' }, /not standard padded base64/],
      [{ ...p0, decompression_metadata: null }, /decompression_metadata/],
      [{ ...p0, decompression_metadata: { ...meta, method: 'BATCH_BITPACK' } }, /label/],
      [{ ...p0, decompression_metadata: { ...meta, method: 'dictionary' } }, /does not match/],
      [{ ...p0, decompression_metadata: { ...meta, register_count: 0 } }, /register_count/],
      [{ ...p0, decompression_metadata: { ...meta, register_count: 9 } }, /register_layout has 10/],
      [{ ...p0, decompression_metadata: { ...meta, sample_count: 0 } }, /sample_count/],
      [{ ...p0, decompression_metadata: { ...meta, compressed_size_bytes: 60 } }, /52 of 60/],
      [{ ...p0, decompression_metadata: { ...meta, timestamp: 2 ** 32 } }, /timestamp/],
      [{ ...p0, decompression_metadata: { ...meta, register_layout: [0, 0] } }, /twice/],
      [{ ...p0, decompression_metadata: { ...meta, register_layout: [0, 12] } }, /RegIDs/],
      [{ ...p0, decompression_metadata: { ...meta, original_size_bytes: 61 } }, /original_size_bytes/],
    ];
    const doc = {
      ...good,
      total_samples: broken.length + 1,
      compressed_data: [...broken.map(([e]) => e), p0],
    };
    const r = parseUpload13(doc);
    if (!r.ok) throw new Error(r.message);
    broken.forEach(([, message], i) => {
      expect(`${i}: ${r.doc.packets[i].problem}`).toMatch(message);
    });
    expect(r.doc.packets.at(-1)?.problem).toBeNull();
    expect(r.doc.notes).toEqual([]);
    // Packets without a usable layout make a temporal mirror forget; others advance it blind.
    const ctx = Temporal13Context.boot();
    expect(decodeUploadPacket13(r.doc.packets[0], ctx).ok).toBe(false);
    expect(ctx.full).toBeNull();
    expect(packetRegisters13(r.doc.packets[0])).toBeNull();
  });

  it('notes a total_samples that does not count the packets', () => {
    const r = parseUpload13({ ...good, total_samples: 3 });
    expect(r.ok && r.doc.notes).toEqual(['total_samples is 3, compressed_data holds 1 packets']);
  });
});
