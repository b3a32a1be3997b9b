/** Builds field-format uploads for tests with the same protocol code the simulator uses. */
import { readFileSync } from 'node:fs';
import { DeviceCompressor } from '../../src/protocol/codecs/device-compressor.js';
import { FIELD_KEYS, sealV1, type V1Keys } from '../../src/protocol/envelope-v1.js';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { buildUploadJson } from '../../src/protocol/upload-json.js';

export function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

/** A typical inverter sample in the batch layout [Vac1, Iac1, Ipv1, Pac, Ipv2, Temp]. */
export function typicalBatch(offset = 0): number[] {
  const out: number[] = [];
  for (let s = 0; s < 5; s++) out.push(2429 + s + offset, 177, 73, 4331 + 3 * s, 70, 605);
  return out;
}

export function uploadJson(deviceId: string, batches: number[][], timestamp = 20_000): string {
  const compressor = new DeviceCompressor();
  const packets = batches.map((values, i) => {
    const { bytes, label } = compressor.compressBatch(values);
    return {
      bytes,
      label,
      timestamp: timestamp - (batches.length - 1 - i) * 10_000,
      compressionTimeUs: 50,
      registerLayout: BATCH_LAYOUT,
    };
  });
  return buildUploadJson({
    deviceId,
    timestamp,
    packets,
    usage: { dictionary: 1, temporal: 0, semantic: 0, bitpack: 0 },
  });
}

export function sealed(
  deviceId: string,
  nonce: number,
  opts: { batches?: number[][]; encrypt?: boolean; keys?: V1Keys; json?: string } = {},
): string {
  const json = opts.json ?? uploadJson(deviceId, opts.batches ?? [typicalBatch()]);
  return sealV1(Buffer.from(json), { nonce, keys: opts.keys ?? FIELD_KEYS, encrypt: opts.encrypt ?? false });
}

/** Pads a JSON document with spaces before its closing brace to reach a length ≡ `mod` (mod 16). */
export function padJsonTo16(json: string, mod: number): string {
  let out = json;
  while (Buffer.byteLength(out) % 16 !== mod) out = `${out.slice(0, -1)} }`;
  return out;
}
