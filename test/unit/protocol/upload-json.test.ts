import { describe, expect, it } from 'vitest';
import { decodeCompressedBinary } from '../../../src/protocol/base64.js';
import { buildUploadJson, formatDeviceFloat } from '../../../src/protocol/upload-json.js';
import { fixture } from '../../helpers/uploads.js';

interface Doc {
  device_id: string;
  timestamp: number;
  compressed_data: {
    compressed_binary: string;
    decompression_metadata: {
      method: string;
      compressed_size_bytes: number;
      timestamp: number;
      register_layout: number[];
    };
    performance_metrics: { compression_time_us: number };
  }[];
  session_summary: { method_usage: Record<string, number> };
}

describe('buildUploadJson', () => {
  const vectors = fixture<{ id: string; plaintext_json: string }[]>('e2e.json');
  for (const v of vectors) {
    it(`reproduces the firmware's upload document byte for byte (${v.id})`, () => {
      const doc = JSON.parse(v.plaintext_json) as Doc;
      const usage = doc.session_summary.method_usage;
      const rebuilt = buildUploadJson({
        deviceId: doc.device_id,
        timestamp: doc.timestamp,
        packets: doc.compressed_data.map((p) => {
          const cut = decodeCompressedBinary(
            p.compressed_binary,
            p.decompression_metadata.compressed_size_bytes,
          );
          if (!cut.ok) throw new Error(cut.message);
          return {
            bytes: cut.bytes,
            label: p.decompression_metadata.method,
            timestamp: p.decompression_metadata.timestamp,
            compressionTimeUs: p.performance_metrics.compression_time_us,
            registerLayout: p.decompression_metadata.register_layout,
          };
        }),
        usage: {
          dictionary: usage.dictionary_count,
          temporal: usage.temporal_count,
          semantic: usage.semantic_count,
          bitpack: usage.bitpack_count,
        },
      });
      expect(rebuilt).toBe(v.plaintext_json);
    });
  }

  it('prints floats as ArduinoJson does', () => {
    expect(formatDeviceFloat(0.75)).toBe('0.75');
    expect(formatDeviceFloat(4 / 3)).toBe('1.333333373');
    expect(formatDeviceFloat(25)).toBe('25');
    expect(formatDeviceFloat(Math.fround(Math.fround(1 - Math.fround(1 / 12)) * 100))).toBe('91.66667175');
    expect(formatDeviceFloat(1 / 12)).toBe('0.083333336');
    expect(formatDeviceFloat(-275)).toBe('-275');
  });
});
