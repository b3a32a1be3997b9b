/**
 * Builds the upload document exactly as the field firmware serialises it (PROTOCOL.md §1.3,
 * ArduinoJson key order and number formatting, defects included), for the simulator and tests.
 */
import { encodeDeviceBase64 } from './base64.js';

export interface DevicePacket {
  bytes: Uint8Array;
  /** `BATCH_DICTIONARY` etc. */
  label: string;
  /** millis() when the packet was made. */
  timestamp: number;
  compressionTimeUs: number;
  registerLayout: readonly number[];
}

export interface MethodUsage {
  dictionary: number;
  temporal: number;
  semantic: number;
  bitpack: number;
}

export const FIELD_DEVICE_ID = 'ESP32_EcoWatt_Smart';
const REGISTER_MAPPING =
  '{"0":"REG_VAC1","1":"REG_IAC1","2":"REG_IPV1","3":"REG_PAC","4":"REG_IPV2","5":"REG_TEMP"}';
const BATCH_BYTES = 60;

/** ArduinoJson's float printing of a `float` value (§1.3 "Number formatting"). */
export function formatDeviceFloat(x: number): string {
  const f = Math.fround(x);
  if (!Number.isFinite(f)) return f > 0 ? '1e+38' : f < 0 ? '-1e+38' : 'null';
  if (f === 0) return '0';
  const a = Math.abs(f);
  if (a >= 1e7 || a <= 1e-5) {
    return f.toExponential(6).replace(/\.?0+e/, 'e');
  }
  const intDigits = a >= 1 ? Math.floor(Math.log10(a)) + 1 : 1;
  const decimals = Math.max(0, 9 - (intDigits - 1));
  const scale = 10 ** decimals;
  const rounded = Math.floor(a * scale + 0.5) / scale;
  let text = rounded.toFixed(decimals);
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return f < 0 ? `-${text}` : text;
}

export function buildUploadJson(opts: {
  deviceId?: string;
  timestamp: number;
  packets: readonly DevicePacket[];
  usage: MethodUsage;
}): string {
  const registerCount = 6;
  const originalPerPacket = registerCount * 2; // the firmware's bug: one sample, not the batch
  let totalCompressed = 0;
  const entries = opts.packets.map((p) => {
    const size = p.bytes.length;
    totalCompressed += size;
    const academic = Math.fround(size / BATCH_BYTES);
    const traditional = Math.fround(BATCH_BYTES / size);
    // The firmware computes in float: every step rounds.
    const savings = Math.fround(Math.fround(1 - academic) * 100);
    return (
      `{"compressed_binary":"${encodeDeviceBase64(p.bytes)}","decompression_metadata":{"method":"${p.label}",` +
      `"register_count":${registerCount},"original_size_bytes":${originalPerPacket},"compressed_size_bytes":${size},` +
      `"timestamp":${p.timestamp},"register_layout":[${p.registerLayout.join(',')}]},"performance_metrics":{` +
      `"academic_ratio":${formatDeviceFloat(academic)},"traditional_ratio":${formatDeviceFloat(traditional)},` +
      `"compression_time_us":${p.compressionTimeUs},"savings_percent":${formatDeviceFloat(savings)},"lossless_verified":true}}`
    );
  });
  const totalOriginal = originalPerPacket * opts.packets.length;
  const overall = totalOriginal > 0 ? Math.fround(totalCompressed / totalOriginal) : 0;
  const overallSavings = Math.fround(Math.fround(1 - overall) * 100);
  const u = opts.usage;
  return (
    `{"device_id":"${opts.deviceId ?? FIELD_DEVICE_ID}","timestamp":${opts.timestamp},` +
    `"data_type":"compressed_sensor_batch","total_samples":${opts.packets.length},` +
    `"register_mapping":${REGISTER_MAPPING},"compressed_data":[${entries.join(',')}],` +
    `"session_summary":{"total_original_bytes":${totalOriginal},"total_compressed_bytes":${totalCompressed},` +
    `"overall_academic_ratio":${formatDeviceFloat(overall)},"overall_savings_percent":${formatDeviceFloat(overallSavings)},` +
    `"best_ratio_achieved":1,"optimal_method":"DICTIONARY","method_usage":{"dictionary_count":${u.dictionary},` +
    `"temporal_count":${u.temporal},"semantic_count":${u.semantic},"bitpack_count":${u.bitpack}}}}`
  );
}
