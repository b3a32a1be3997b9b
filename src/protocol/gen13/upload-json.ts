/**
 * The plaintext upload JSON of firmware 1.3 (data_uploader.cpp:189-290, PROTOCOL-1.3.md §3):
 * a byte-exact builder for simulators and a tolerant parser for the server.
 *
 * Firmware facts the builder reproduces and the parser relies on:
 *   - `register_mapping` keys are positions in the first packet's layout ("2":"Pac" for [0,1,9]),
 *     not RegIDs; `total_samples` counts packets;
 *   - the packet `timestamp` is the last sample's unix ms kept in a uint32 (mod 2^32): not a clock;
 *   - `compressed_binary` is standard padded base64, but the 256-byte buffer it is written into
 *     stops after 63 whole groups: a packet above 189 bytes arrives as the base64 of its first 189
 *     bytes, with `compressed_size_bytes` still the full length;
 *   - ratios are C floats serialised by ArduinoJson 6.21 as doubles with 9 significant decimals.
 */
import { decodeBase64Strict, encodeBase64 } from '../base64.js';
import { formatArduinoJsonFloat, jsonString } from './arduino-json.js';
import { decodePacket13, labelForBytes13, type Method13Label, type Packet13Result } from './decode-packet.js';
import type { Temporal13Context } from './temporal.js';
import { isRegisterId } from './values.js';

/** REGISTER_MAP[].name at 1.3 (acquisition.h:45-56), by RegID. */
export const REGISTER_NAMES13: readonly string[] = Object.freeze([
  'Vac1',
  'Iac1',
  'Fac1',
  'Vpv1',
  'Vpv2',
  'Ipv1',
  'Ipv2',
  'Temp',
  'Pow',
  'Pac',
]);

/** Longest `compressed_binary` payload the firmware sends whole (63 base64 groups). */
export const COMPRESSED_BINARY13_MAX = 189;
/** serializeJson into a 4096-byte buffer: 4095 bytes or more and the upload cycle fails. */
export const UPLOAD13_JSON_MAX = 4094;
const LABELS: readonly string[] = ['dictionary', 'temporal', 'semantic', 'bitpack', 'raw'];
const U32 = 2 ** 32;

// ---------------------------------------------------------------------------------------------
// Builder (simulators)

export interface Upload13PacketInput {
  /** The compressed batch exactly as compressSmart13 returned it. */
  readonly bytes: Uint8Array;
  /** RegIDs of one sample. */
  readonly registerLayout: readonly number[];
  readonly sampleCount: number;
  /** Unix ms of the batch's last sample (the firmware keeps it mod 2^32). */
  readonly lastSampleMs: number;
}

export interface Upload13Input {
  readonly deviceId: string;
  /** Unix seconds (getLocalTime, else millis()/1000). */
  readonly timestamp: number;
  /** Seconds (poll period µs / 1e6, truncated). */
  readonly samplingInterval: number;
  /** Up to 8 per POST on the device; the builder takes any number. */
  readonly packets: readonly Upload13PacketInput[];
}

/** What the firmware writes into `compressed_binary` for these bytes (truncation included). */
export function compressedBinary13(bytes: Uint8Array): string {
  return encodeBase64(
    bytes.length > COMPRESSED_BINARY13_MAX ? bytes.subarray(0, COMPRESSED_BINARY13_MAX) : bytes,
  );
}

function ratios(
  compressed: number,
  original: number,
): { academic: number; traditional: number; savings: number } {
  const academic = compressed > 0 ? Math.fround(Math.fround(compressed) / Math.fround(original)) : 1;
  const traditional = compressed > 0 ? Math.fround(Math.fround(original) / Math.fround(compressed)) : 0;
  // (1.0f - ratio) * 100.0f in float arithmetic.
  const savings = Math.fround(Math.fround(1 - academic) * 100);
  return { academic, traditional, savings };
}

/**
 * The plaintext JSON the firmware seals, byte for byte. It does not enforce the firmware's limits
 * (8 packets, UPLOAD13_JSON_MAX): a simulator decides what to do with a body the device would
 * not send. Throws on input the firmware cannot have (RegIDs outside 0..9, counts < 1).
 */
export function buildUpload13(input: Upload13Input): string {
  const first = input.packets[0];
  const mapping =
    first === undefined
      ? ''
      : first.registerLayout
          .slice(0, REGISTER_NAMES13.length)
          .map((r, i) => `"${i}":${jsonString(registerName(r))}`)
          .join(',');
  let totalOriginal = 0;
  let totalCompressed = 0;
  const packets = input.packets.map((p) => {
    if (!Number.isInteger(p.sampleCount) || p.sampleCount < 1)
      throw new RangeError('sampleCount must be ≥ 1');
    for (const r of p.registerLayout) registerName(r);
    const original = p.registerLayout.length * p.sampleCount * 2;
    const size = p.bytes.length;
    totalOriginal += original;
    totalCompressed += size;
    const r = ratios(size, original);
    const timestamp = ((Math.trunc(p.lastSampleMs) % U32) + U32) % U32;
    return (
      `{"compressed_binary":${jsonString(compressedBinary13(p.bytes))},` +
      `"decompression_metadata":{"method":"${labelForBytes13(p.bytes)}",` +
      `"register_count":${p.registerLayout.length},"sample_count":${p.sampleCount},` +
      `"original_size_bytes":${original},"compressed_size_bytes":${size},"timestamp":${timestamp},` +
      `"register_layout":[${p.registerLayout.join(',')}]},` +
      `"performance_metrics":{"academic_ratio":${formatArduinoJsonFloat(r.academic)},` +
      `"traditional_ratio":${formatArduinoJsonFloat(r.traditional)},"compression_time_us":0,` +
      `"savings_percent":${formatArduinoJsonFloat(r.savings)},"lossless_verified":false}}`
    );
  });
  // Unlike a packet's, the session ratio is taken even when nothing was compressed (0 / original).
  const overallAcademic =
    totalOriginal > 0 ? Math.fround(Math.fround(totalCompressed) / Math.fround(totalOriginal)) : 1;
  const overallSavings = totalOriginal > 0 ? Math.fround(Math.fround(1 - overallAcademic) * 100) : 0;
  return (
    `{"device_id":${jsonString(input.deviceId)},"timestamp":${input.timestamp},` +
    `"data_type":"compressed_sensor_batch","total_samples":${input.packets.length},` +
    `"sampling_interval":${input.samplingInterval},"register_mapping":{${mapping}},` +
    `"compressed_data":[${packets.join(',')}],"session_summary":{"total_original_bytes":${totalOriginal},` +
    `"total_compressed_bytes":${totalCompressed},"overall_academic_ratio":${formatArduinoJsonFloat(overallAcademic)},` +
    `"overall_savings_percent":${formatArduinoJsonFloat(overallSavings)}}}`
  );
}

function registerName(r: number): string {
  if (!isRegisterId(r)) throw new RangeError(`register ${r} is not a RegID 0..9`);
  return REGISTER_NAMES13[r];
}

// ---------------------------------------------------------------------------------------------
// Parser (server)

export interface Upload13Packet {
  /** Position in `compressed_data`. */
  readonly index: number;
  readonly compressedBinary: string | null;
  /** `compressed_binary` decoded, whatever its length (null: not canonical base64, or absent). */
  readonly bytes: Uint8Array | null;
  /** `decompression_metadata.method` as sent (the firmware's label for the first byte). */
  readonly label: Method13Label | null;
  readonly registerCount: number | null;
  readonly sampleCount: number | null;
  readonly compressedSize: number | null;
  readonly registerLayout: number[] | null;
  /** Last sample's unix ms mod 2^32, as sent: an ordering hint, not a clock. */
  readonly deviceTimestamp: number | null;
  /** Why this packet cannot be decoded as sent (quarantine it); null when it looks sound. */
  readonly problem: string | null;
}

export interface Upload13 {
  readonly deviceId: string;
  /** Unix seconds from the device clock (or seconds since boot when it had no NTP time). */
  readonly timestamp: number;
  /** Seconds. */
  readonly samplingInterval: number;
  readonly packets: Upload13Packet[];
  /** Document-level remarks that do not sink the upload. */
  readonly notes: string[];
}

export type ParseUpload13Result = { ok: true; doc: Upload13 } | { ok: false; message: string };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown, min: number, max = Number.MAX_SAFE_INTEGER): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
}

/**
 * Reads a decoded upload document. A document without the envelope's identity and timing fields
 * or without a `compressed_data` array is malformed (`ok: false`); a bad packet entry only gets a
 * `problem`, so the other packets of the upload are still stored.
 */
export function parseUpload13(doc: unknown): ParseUpload13Result {
  if (!isObject(doc)) return { ok: false, message: 'upload must be a JSON object' };
  const { device_id: deviceId, timestamp, data_type: dataType, sampling_interval: interval } = doc;
  if (typeof deviceId !== 'string' || deviceId.length === 0) {
    return { ok: false, message: 'device_id must be a non-empty string' };
  }
  if (!isCount(timestamp, 0)) return { ok: false, message: 'timestamp must be a non-negative integer (s)' };
  if (dataType !== 'compressed_sensor_batch') {
    return { ok: false, message: 'data_type must be "compressed_sensor_batch"' };
  }
  // No range check on the device: 0 s is stored as sent.
  if (!isCount(interval, 0))
    return { ok: false, message: 'sampling_interval must be a non-negative integer (s)' };
  if (!Array.isArray(doc.compressed_data)) return { ok: false, message: 'compressed_data must be an array' };
  const packets = doc.compressed_data.map((entry, index) => parsePacket(entry, index));
  const notes: string[] = [];
  if (doc.total_samples !== undefined && doc.total_samples !== packets.length) {
    notes.push(
      `total_samples is ${String(doc.total_samples)}, compressed_data holds ${packets.length} packets`,
    );
  }
  return { ok: true, doc: { deviceId, timestamp, samplingInterval: interval, packets, notes } };
}

function parsePacket(entry: unknown, index: number): Upload13Packet {
  const empty = {
    index,
    compressedBinary: null,
    bytes: null,
    label: null,
    registerCount: null,
    sampleCount: null,
    compressedSize: null,
    registerLayout: null,
    deviceTimestamp: null,
  };
  if (!isObject(entry)) return { ...empty, problem: 'packet is not an object' };
  const problems: string[] = [];
  const binary = typeof entry.compressed_binary === 'string' ? entry.compressed_binary : null;
  if (binary === null) problems.push('compressed_binary is not a string');
  const meta = isObject(entry.decompression_metadata) ? entry.decompression_metadata : null;
  if (meta === null) {
    return {
      ...empty,
      compressedBinary: binary,
      problem: ['decompression_metadata is missing', ...problems].join('; '),
    };
  }
  const label =
    typeof meta.method === 'string' && LABELS.includes(meta.method) ? (meta.method as Method13Label) : null;
  if (label === null) problems.push(`method ${JSON.stringify(meta.method)} is not a firmware 1.3 label`);
  const registerCount = isCount(meta.register_count, 1, REGISTER_NAMES13.length) ? meta.register_count : null;
  if (registerCount === null) problems.push('register_count must be an integer 1..10');
  const sampleCount = isCount(meta.sample_count, 1) ? meta.sample_count : null;
  if (sampleCount === null) problems.push('sample_count must be a positive integer');
  const compressedSize = isCount(meta.compressed_size_bytes, 0) ? meta.compressed_size_bytes : null;
  if (compressedSize === null) problems.push('compressed_size_bytes must be a non-negative integer');
  const deviceTimestamp = isCount(meta.timestamp, 0, U32 - 1) ? meta.timestamp : null;
  if (deviceTimestamp === null) problems.push('timestamp must be an integer 0..2^32-1');
  let registerLayout: number[] | null = null;
  const layout = meta.register_layout;
  if (!Array.isArray(layout) || !layout.every(isRegisterId)) {
    problems.push('register_layout must be an array of RegIDs 0..9');
  } else if (new Set(layout).size !== layout.length) {
    problems.push('register_layout names a register twice');
  } else {
    registerLayout = [...layout];
    if (registerCount !== null && layout.length !== registerCount) {
      problems.push(`register_layout has ${layout.length} entries, register_count says ${registerCount}`);
    }
  }
  if (
    meta.original_size_bytes !== undefined &&
    registerCount !== null &&
    sampleCount !== null &&
    meta.original_size_bytes !== 2 * registerCount * sampleCount
  ) {
    problems.push(`original_size_bytes is not 2 × ${registerCount} × ${sampleCount}`);
  }
  const decoded = binary === null ? null : decodeCompressedBinary13(binary);
  const bytes = decoded?.ok ? decoded.bytes : null;
  if (decoded && !decoded.ok) problems.push(decoded.message);
  if (bytes && compressedSize !== null) {
    const size = checkCompressedSize13(bytes, compressedSize);
    if (size) problems.push(size.message);
    else if (label !== null && labelForBytes13(bytes) !== label) {
      problems.push(`method "${label}" does not match the first byte (${labelForBytes13(bytes)})`);
    }
  }
  return {
    index,
    compressedBinary: binary,
    bytes,
    label,
    registerCount,
    sampleCount,
    compressedSize,
    registerLayout,
    deviceTimestamp,
    problem: problems.length > 0 ? problems.join('; ') : null,
  };
}

export type CompressedBinary13Result =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | {
      readonly ok: false;
      readonly code: 'bad_base64' | 'truncated' | 'trailing_bytes';
      readonly message: string;
    };

/**
 * `compressed_binary` → bytes, checked against `compressed_size_bytes` when given. The firmware
 * writes canonical padded base64, so anything else (no padding, stray bits) is `bad_base64`.
 * Fewer bytes than announced is `truncated` (the firmware's own cut leaves exactly 189): quarantine
 * it, never decode a prefix.
 */
export function decodeCompressedBinary13(text: string, compressedSize?: number): CompressedBinary13Result {
  const bytes = decodeBase64Strict(text);
  if (!bytes || encodeBase64(bytes) !== text) {
    return { ok: false, code: 'bad_base64', message: 'compressed_binary is not standard padded base64' };
  }
  return (
    (compressedSize === undefined ? undefined : checkCompressedSize13(bytes, compressedSize)) ?? {
      ok: true,
      bytes,
    }
  );
}

/** Why decoded bytes are not the `compressed_size_bytes` the device announced, or undefined. */
export function checkCompressedSize13(
  bytes: Uint8Array,
  compressedSize: number,
): { ok: false; code: 'truncated' | 'trailing_bytes'; message: string } | undefined {
  if (bytes.length < compressedSize) {
    const cause =
      bytes.length === COMPRESSED_BINARY13_MAX
        ? ' (the firmware cuts compressed_binary after 189 bytes)'
        : '';
    return {
      ok: false,
      code: 'truncated',
      message: `compressed_binary holds ${bytes.length} of ${compressedSize} bytes${cause}`,
    };
  }
  if (bytes.length > compressedSize) {
    return {
      ok: false,
      code: 'trailing_bytes',
      message: `compressed_binary holds ${bytes.length} bytes, compressed_size_bytes says ${compressedSize}`,
    };
  }
  return undefined;
}

/** Per-value RegIDs of a packet, sample-major, or null when its metadata cannot give them. */
export function packetRegisters13(packet: Upload13Packet): number[] | null {
  const { registerLayout: layout, sampleCount } = packet;
  if (layout === null || sampleCount === null) return null;
  const out: number[] = [];
  for (let s = 0; s < sampleCount; s++) out.push(...layout);
  return out;
}

export type UploadPacket13Result =
  | Packet13Result
  | { readonly ok: false; readonly code: 'bad_base64'; readonly message: string };

/**
 * Decodes one parsed packet, advancing `context` even when the packet cannot be decoded (the
 * device's temporal state moved on regardless). A packet whose layout is unknown makes the
 * context forget everything, since its effect on the device state cannot be known.
 */
export function decodeUploadPacket13(
  packet: Upload13Packet,
  context?: Temporal13Context,
): UploadPacket13Result {
  const registers = packetRegisters13(packet);
  if (registers === null) {
    context?.forget();
    return {
      ok: false,
      code: 'bad_count',
      message: `packet ${packet.index}: ${packet.problem ?? 'no layout'}`,
    };
  }
  if (packet.compressedBinary === null || packet.compressedSize === null) {
    context?.observe(registers, null);
    return { ok: false, code: 'empty', message: `packet ${packet.index}: ${packet.problem ?? 'no data'}` };
  }
  if (packet.bytes === null) {
    context?.observe(registers, null);
    return { ok: false, code: 'bad_base64', message: 'compressed_binary is not standard padded base64' };
  }
  const fault = checkCompressedSize13(packet.bytes, packet.compressedSize);
  if (fault) {
    context?.observe(registers, null);
    return fault;
  }
  return decodePacket13(packet.bytes, { registers, context });
}
