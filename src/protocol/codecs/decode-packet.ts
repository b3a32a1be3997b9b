/**
 * The server's packet decoder (PROTOCOL.md §3.7, §10.5): dispatch on the first byte with the value
 * count known from the layout, fall back to the header-less readings a single-sample device can
 * emit, and never report a value more certain than the bytes allow.
 */

import { decodeBase64Strict, decodeCompressedBinary } from '../base64.js';
import { BATCH_POSITIONS } from '../registers.js';
import { decodeBitPacked, decodeBitPackedHeaderless } from './bitpack.js';
import { type BatchMethodLabel, type MethodLabel, methodLabelForFirstByte } from './device-compressor.js';
import type { Pattern } from './dictionary.js';
import { decodeDictionary } from './dictionary.js';
import { decodeE1 } from './lossless-e1.js';
import { decodeRaw, decodeRawHeaderless, RAW_HEADERLESS_MAX } from './raw.js';
import { decodeSemantic } from './semantic.js';
import { decodeTemporal, type TemporalContext } from './temporal.js';
import { type DecodeResult, decodeFailure } from './types.js';

export interface DecodePacketOptions {
  /** RegID of every value position; gives n. Default: the 30-value batch layout. */
  readonly registers?: readonly number[];
  /** A context mirroring the device's, needed for `0x71`; a successful temporal decode advances it. */
  readonly temporal?: TemporalContext;
  /** The device's dictionary as mirrored so far (built-ins plus learned patterns); default the built-ins. */
  readonly patterns?: readonly Pattern[];
}

/** The device's `decompression_metadata.method` for a first byte (main.cpp:845-867). */
export function labelForFirstByte(byte: number, batch: boolean): MethodLabel | BatchMethodLabel {
  const label = methodLabelForFirstByte(byte);
  return batch ? `BATCH_${label}` : label;
}

/**
 * Decodes one packet. Marker collision rule: a header-less stream (only possible for n ≤ 8) can
 * start with a marker byte. The marker reading is tried first; if it fails or does not fit n, the
 * header-less readings are used. If both fit, the marker reading wins and a note records the
 * alternative: a genuine header always carries marker + a valid field + exactly n, which a
 * header-less stream matches only by chance (vectors `smart-single-bitpack8`/`-bitpack10` are such
 * double fits and are headed; `smart-single-headerless12-first-byte-01` has an impossible width).
 */
export function decodePacket(bytes: Uint8Array, opts: DecodePacketOptions = {}): DecodeResult {
  const registers = opts.registers ?? BATCH_POSITIONS;
  const n = registers.length;
  if (bytes.length === 0) {
    return n === 0
      ? { ok: true, method: 'empty', values: [], quality: [], notes: [] }
      : decodeFailure('empty', `no bytes for ${n} values`);
  }
  const marked = decodeMarked(bytes, registers, opts);
  if (n === 0 || n > RAW_HEADERLESS_MAX) {
    return marked ?? decodeFailure('unknown_marker', `first byte 0x${hex(bytes[0])} names no format`);
  }
  // A temporal delta that only lacks its context is still a temporal delta: never reread it.
  if (marked && !marked.ok && marked.code === 'no_context' && temporalDeltaShapeFits(bytes, n)) return marked;
  if (marked?.ok) {
    const plain = decodeHeaderless(bytes, n);
    if (plain.ok)
      marked.notes.push(`also fits a header-less ${plain.method} reading; the marker reading is kept`);
    return marked;
  }
  const plain = decodeHeaderless(bytes, n);
  if (plain.ok) {
    if (marked) plain.notes.push(`first byte 0x${hex(bytes[0])} is data: ${marked.message}`);
    return plain;
  }
  if (marked) return decodeFailure(marked.code, `${marked.message}; header-less: ${plain.message}`);
  return decodeFailure(
    'unknown_marker',
    `first byte 0x${hex(bytes[0])} names no format; header-less: ${plain.message}`,
  );
}

/** The marker reading, or undefined when the first byte is no marker. */
function decodeMarked(
  bytes: Uint8Array,
  registers: readonly number[],
  opts: DecodePacketOptions,
): DecodeResult | undefined {
  const n = registers.length;
  switch (bytes[0]) {
    case 0xd0:
      return decodeDictionary(bytes, registers, opts.patterns);
    case 0x70:
    case 0x71:
      return decodeTemporal(bytes, registers, opts.temporal);
    case 0x50:
      return decodeSemantic(bytes, n, registers);
    case 0x01:
      return decodeBitPacked(bytes, n);
    case 0x00:
      return decodeRaw(bytes, n);
    case 0xe1: {
      const r = decodeE1(bytes);
      // E1 names its own registers; the caller's count is checked only when the caller gave one.
      if (r.ok && opts.registers !== undefined && r.values.length !== n) {
        return decodeFailure(
          'bad_count',
          `E1 packet holds ${r.samples}×${r.registers.length} values, expected ${n}`,
        );
      }
      return r;
    }
    default:
      return undefined;
  }
}

/**
 * Raw (exactly 2n bytes) and bit-packed (width inferred) readings. The device's rules make them
 * exclusive (bit-packing is kept only when shorter than 2n); should both ever fit, raw is kept
 * and every value that differs between them is `ambiguous`.
 */
function decodeHeaderless(bytes: Uint8Array, n: number): DecodeResult {
  const packed = decodeBitPackedHeaderless(bytes, n);
  if (bytes.length !== 2 * n) return packed;
  const raw = decodeRawHeaderless(bytes, n);
  if (!raw.ok || !packed.ok) return raw;
  for (let i = 0; i < n; i++) if (raw.values[i] !== packed.values[i]) raw.quality[i] = 'ambiguous';
  raw.notes.push('AMBIGUOUS: also fits a header-less bit-packed reading');
  return raw;
}

/** Whether `0x71, n, …` parses as n tagged deltas with nothing left over (no context needed). */
function temporalDeltaShapeFits(bytes: Uint8Array, n: number): boolean {
  if (bytes[0] !== 0x71 || bytes.length < 2 || bytes[1] !== n) return false;
  let p = 2;
  for (let i = 0; i < n; i++) {
    if (p >= bytes.length) return false;
    const tag = bytes[p];
    p += tag & 0x80 ? 1 : tag === 0x00 ? 2 : tag === 0x01 ? 3 : Number.POSITIVE_INFINITY;
  }
  return p === bytes.length;
}

/**
 * Keeps a temporal mirror in step with the device, which runs TEMPORAL (and so advances its
 * context) on every smart call whatever method wins. Call it after each packet, in order, with
 * the mirror that was also given to decodePacket: temporal packets have already advanced it
 * there; any other packet advances it here if every value is exact. False means the mirror can
 * no longer follow the device (a value is not exact, or the packet failed): drop it, a later
 * `0x71` then decodes as `no_context` instead of silently wrong.
 */
export function followTemporalMirror(
  mirror: TemporalContext,
  result: DecodeResult,
  registers: readonly number[],
): boolean {
  if (!result.ok) return false;
  if (result.method === 'temporal_base' || result.method === 'temporal_delta') return true;
  if (result.values.length !== registers.length) return false;
  for (let i = 0; i < registers.length; i++) {
    const r = registers[i];
    if (result.quality[i] !== 'exact' || !Number.isInteger(r) || r < 0 || r > 9) return false;
  }
  mirror.advance(result.values as number[], registers);
  return true;
}

export type DeviceBinaryResult =
  | DecodeResult
  | { readonly ok: false; readonly code: 'bad_base64'; readonly message: string };

/**
 * `compressed_binary` (standard or device base64, §3.4) straight to values. With the length
 * (`compressed_size_bytes`) the device's junk zero bytes are cut. Without it a device-variant
 * string may hide 0, 1 or 2 junk bytes, so each length is tried: a marker reading beats a
 * header-less one (a header checks itself, raw bytes fit any length), then the longer length
 * wins; every value another surviving reading disagrees with is marked `ambiguous`.
 */
export function decodeDeviceCompressedBinary(
  text: string,
  length: number | undefined,
  opts: DecodePacketOptions = {},
): DeviceBinaryResult {
  if (length !== undefined) {
    const cut = decodeCompressedBinary(text, length);
    if (!cut.ok) return transportFailure(text, length, cut.message);
    return decodePacket(cut.bytes, opts);
  }
  const bytes = decodeBase64Strict(text);
  if (!bytes) return { ok: false, code: 'bad_base64', message: 'compressed_binary is not base64' };
  // Only an unpadded string of whole 4-character groups can carry the device's junk bytes.
  const end = bytes.length;
  if (text.includes('=') || text.length % 4 !== 0 || end === 0 || bytes[end - 1] !== 0) {
    return decodePacket(bytes, opts);
  }
  const lengths = end >= 2 && bytes[end - 2] === 0 ? [end, end - 1, end - 2] : [end, end - 1];
  // Trials run on copies of the mirror; only the winner is decoded again on the caller's own.
  const readings: { length: number; result: DecodeResult }[] = [];
  let firstFailure: DecodeResult | undefined;
  for (const len of lengths) {
    const result = decodePacket(bytes.subarray(0, len), {
      registers: opts.registers,
      temporal: opts.temporal?.clone(),
    });
    if (result.ok) readings.push({ length: len, result });
    else firstFailure ??= result;
  }
  if (readings.length === 0) return firstFailure ?? decodeFailure('empty', 'no bytes');
  let best = readings[0];
  for (const r of readings) if (rank(r.result) < rank(best.result)) best = r;
  const result = decodePacket(bytes.subarray(0, best.length), opts);
  if (!result.ok) return result;
  if (best.length !== end) result.notes.push(`length inferred: ${best.length} of ${end} bytes`);
  for (const other of readings) {
    if (other === best || !other.result.ok) continue;
    let differs = false;
    for (let i = 0; i < result.values.length; i++) {
      if (result.values[i] !== null && other.result.values[i] !== result.values[i]) {
        result.quality[i] = 'ambiguous';
        differs = true;
      }
    }
    if (differs) result.notes.push(`AMBIGUOUS: ${other.length} bytes also read as ${other.result.method}`);
  }
  return result;
}

/** Lower is more trustworthy: self-describing formats, then width-checked bit-packing, then raw. */
function rank(result: DecodeResult): number {
  if (!result.ok) return 3;
  if (result.method === 'raw_headerless') return 2;
  return result.method === 'bitpacked_headerless' ? 1 : 0;
}

function transportFailure(text: string, length: number, message: string): DeviceBinaryResult {
  const bytes = decodeBase64Strict(text);
  if (!bytes) return { ok: false, code: 'bad_base64', message };
  if (!Number.isInteger(length) || length < 0) return decodeFailure('bad_count', message);
  return decodeFailure(length > bytes.length ? 'truncated' : 'trailing_bytes', message);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
