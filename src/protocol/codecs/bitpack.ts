/**
 * Bit-packing as the device does it (PROTOCOL.md §3.3.4, §3.3.5), packing defect included, and
 * decoders that recover what can be known from such streams.
 *
 *   [0x01, w, n]  (kept iff n > 8 or packed + 3 < 2n)  then n values of w bits, MSB first,
 *   zero-padded to a whole byte; packed = ceil(n·w / 8).
 *
 * Defect: a value whose bits touch three bytes (bitpos + w > 16) keeps only its top 8 − bitpos
 * bits (the device shifts by a negative amount and the rest comes out as zero). Its MSB always
 * survives, so the decoded value is a lower bound whose lost low bits are known to read as zero.
 */

import { encodeRaw } from './raw.js';
import { type DecodeResult, decodeFailure, type Quality } from './types.js';

const MARKER = 0x01;
const HEADER = 3;
const MAX_WIDTH = 16;
/** compressBinary only bit-packs these widths (below 8 and at 16 it stores raw). */
const PACK_MIN_WIDTH = 8;
const PACK_MAX_WIDTH = 15;
/** Header-less output needs n ≤ 8 (`count > 8` always keeps the header). */
const HEADERLESS_MAX_COUNT = 8;

/** Smallest b ≥ 1 with max(v) < 2^b — the device's `optimalBits` (1 for all zeros or none). */
export function bitWidth(values: readonly number[]): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] & 0xffff;
    if (v > max) max = v;
  }
  let b = 1;
  while (1 << b <= max) b++;
  return b;
}

/** Payload bytes for n values of w bits. */
export function packedLength(count: number, width: number): number {
  return Math.ceil((count * width) / 8);
}

/** Whether the device writes the [0x01, w, n] header for this shape. */
export function bitPackHeaderKept(count: number, width: number): boolean {
  return count > HEADERLESS_MAX_COUNT || packedLength(count, width) + HEADER < 2 * count;
}

/** True for the positions the device's packer truncates. */
function spansThreeBytes(bitOffset: number, width: number): boolean {
  return (bitOffset & 7) + width > 16;
}

/**
 * The device's compressBinaryBitPacked, defect included. Width outside 1..16 gives an empty
 * array, as on the device; values are taken mod 2^16 and then masked to `width` bits, as there.
 */
export function encodeBitPacked(values: readonly number[], width: number): Uint8Array {
  if (!Number.isInteger(width) || width < 1 || width > MAX_WIDTH) return new Uint8Array(0);
  const n = values.length;
  const offset = bitPackHeaderKept(n, width) ? HEADER : 0;
  const out = new Uint8Array(offset + packedLength(n, width));
  if (offset) {
    out[0] = MARKER;
    out[1] = width;
    out[2] = n & 0xff; // a byte on the device too
  }
  const mask = (1 << width) - 1;
  for (let i = 0, bit = 0; i < n; i++, bit += width) {
    const v = values[i] & mask;
    const pos = bit & 7;
    const at = offset + (bit >>> 3);
    if (pos + width <= 8) {
      out[at] |= v << (8 - pos - width);
      continue;
    }
    const rest = width - (8 - pos);
    out[at] |= v >>> rest;
    // rest > 8 is the three-byte case: the device's shift by (8 − rest) < 0 writes nothing.
    if (rest <= 8) out[at + 1] |= (v << (8 - rest)) & 0xff;
  }
  return out;
}

/** §3.3.5: bit-pack for 8 ≤ w ≤ 15 when that is shorter than 2n bytes, else raw. */
export function compressBinary(values: readonly number[]): Uint8Array {
  const n = values.length;
  if (n === 0) return new Uint8Array(0); // the device rejects count 0 with an empty result
  const w = bitWidth(values);
  if (w >= PACK_MIN_WIDTH && w <= PACK_MAX_WIDTH) {
    const packed = encodeBitPacked(values, w);
    if (packed.length < 2 * n) return packed;
  }
  return encodeRaw(values);
}

/** Headed `0x01` stream. Values the device truncated are returned as read, `approximate`. */
export function decodeBitPacked(bytes: Uint8Array, count?: number): DecodeResult {
  if (bytes.length === 0) return decodeFailure('empty', 'bit-packed: no bytes');
  if (bytes[0] !== MARKER) {
    return decodeFailure('unknown_marker', `bit-packed: marker 0x${bytes[0].toString(16)} is not 0x01`);
  }
  if (bytes.length < HEADER) return decodeFailure('truncated', 'bit-packed: header is cut short');
  const w = bytes[1];
  const n = bytes[2];
  if (w === 0 || w > MAX_WIDTH) return decodeFailure('bad_width', `bit-packed: width ${w} outside 1..16`);
  if (count !== undefined && count !== n) {
    return decodeFailure('bad_count', `bit-packed: header says ${n} values, the packet ${String(count)}`);
  }
  if (!bitPackHeaderKept(n, w)) {
    return decodeFailure('bad_count', `bit-packed: the device writes no header for ${n} values of ${w} bits`);
  }
  const need = HEADER + packedLength(n, w);
  if (bytes.length < need) {
    return decodeFailure('truncated', `bit-packed: ${n}×${w} bits need ${need} bytes, got ${bytes.length}`);
  }
  if (bytes.length > need) {
    return decodeFailure('trailing_bytes', `bit-packed: ${bytes.length - need} bytes after the values`);
  }
  if (!paddingIsZero(bytes, HEADER, n, w)) {
    return decodeFailure('bad_value', 'bit-packed: padding bits are set (the device zero-fills them)');
  }
  const notes: string[] = [];
  if (lostBitsSet(bytes, HEADER, n, w) >= 0) {
    notes.push('a value that spanned three bytes carries low bits the e84f720 packer drops; kept as read');
  }
  return unpack(bytes, HEADER, n, w, 'bitpacked', notes);
}

/**
 * Widths a header-less stream of `length` bytes for `count` values can have. Rule: such
 * streams come from compressBinary only, so w ∈ 8..15, the packing must be shorter than 2n
 * (else raw), and the header must have been dropped (n ≤ 8 and packed + 3 ≥ 2n).
 */
export function headerlessBitPackedWidths(count: number, length: number): number[] {
  const widths: number[] = [];
  if (!Number.isInteger(count) || count < 1 || count > HEADERLESS_MAX_COUNT) return widths;
  for (let w = PACK_MIN_WIDTH; w <= PACK_MAX_WIDTH; w++) {
    const packed = packedLength(count, w);
    if (packed === length && packed < 2 * count && !bitPackHeaderKept(count, w)) widths.push(w);
  }
  return widths;
}

/**
 * Header-less stream: the width is inferred (see headerlessBitPackedWidths) and every candidate
 * is checked against what the device would have written — the largest value must need all w
 * bits (the device picks the smallest width), padding and the bits lost to the packing defect
 * must be zero. One survivor: decoded normally. Several: the smallest is used and every value is
 * `ambiguous`. None: `bad_value`. `width`, when the caller knows it (a direct
 * compressBinaryBitPacked call), skips the inference.
 */
export function decodeBitPackedHeaderless(bytes: Uint8Array, count: number, width?: number): DecodeResult {
  if (!Number.isInteger(count) || count < 1 || count > HEADERLESS_MAX_COUNT) {
    return decodeFailure('bad_count', `bit-packed (header-less): impossible for ${String(count)} values`);
  }
  if (bytes.length === 0) return decodeFailure('empty', 'bit-packed (header-less): no bytes');
  if (width !== undefined) return decodeWithKnownWidth(bytes, count, width);

  const candidates = headerlessBitPackedWidths(count, bytes.length);
  if (candidates.length === 0) {
    return decodeFailure(
      'bad_width',
      `bit-packed (header-less): no width 8..15 gives ${bytes.length} bytes for ${count} values`,
    );
  }
  const notes = [
    `header-less bit-packed: widths consistent with length ${bytes.length}: [${candidates.join(', ')}]`,
  ];
  const fitting: number[] = [];
  for (const w of candidates) {
    const why = inconsistency(bytes, count, w);
    if (why === undefined) fitting.push(w);
    else notes.push(`width ${w} excluded: ${why}`);
  }
  if (fitting.length === 0) return decodeFailure('bad_value', `${notes.join('; ')}; no width fits the data`);
  const w = fitting[0];
  if (fitting.length > 1) notes.push(`AMBIGUOUS width: candidates [${fitting.join(', ')}]`);
  notes.push(`decoded with width ${w}`);
  const result = unpack(bytes, 0, count, w, 'bitpacked_headerless', notes);
  if (fitting.length > 1 && result.ok) result.quality.fill('ambiguous');
  return result;
}

function decodeWithKnownWidth(bytes: Uint8Array, count: number, width: number): DecodeResult {
  if (!Number.isInteger(width) || width < 1 || width > MAX_WIDTH) {
    return decodeFailure('bad_width', `bit-packed (header-less): width ${String(width)} outside 1..16`);
  }
  if (bitPackHeaderKept(count, width)) {
    return decodeFailure(
      'bad_count',
      `bit-packed: the device keeps the header for ${count} values of ${width} bits`,
    );
  }
  const need = packedLength(count, width);
  if (bytes.length < need) return decodeFailure('truncated', `bit-packed (header-less): need ${need} bytes`);
  if (bytes.length > need)
    return decodeFailure('trailing_bytes', `bit-packed (header-less): need ${need} bytes`);
  if (!paddingIsZero(bytes, 0, count, width) || lostBitsSet(bytes, 0, count, width) >= 0) {
    return decodeFailure('bad_value', 'bit-packed (header-less): bits set that the device leaves zero');
  }
  return unpack(bytes, 0, count, width, 'bitpacked_headerless', [
    `header-less; width ${width} given by the caller`,
  ]);
}

/** Why the device cannot have written this stream with width w, or undefined if it can. */
function inconsistency(bytes: Uint8Array, n: number, w: number): string | undefined {
  if (!paddingIsZero(bytes, 0, n, w)) return 'padding bits are set';
  const lost = lostBitsSet(bytes, 0, n, w);
  if (lost >= 0) return `value ${lost} spanned three bytes, yet bits the device drops are set`;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = readBits(bytes, 0, bytes.length, i * w, w);
    if (v > max) max = v;
  }
  // The device chose w = bitWidth(v); the MSB is never lost, so max must need all w bits.
  if (max < 1 << (w - 1))
    return `largest value ${max} fits in ${w - 1} bits, the device would have used fewer`;
  return undefined;
}

/** The index of the first truncated value whose dropped bits are non-zero, or −1. */
function lostBitsSet(bytes: Uint8Array, start: number, n: number, w: number): number {
  for (let i = 0, bit = 0; i < n; i++, bit += w) {
    if (!spansThreeBytes(bit, w)) continue;
    const lostBits = w - (8 - (bit & 7));
    if ((readBits(bytes, start, bytes.length, bit, w) & ((1 << lostBits) - 1)) !== 0) return i;
  }
  return -1;
}

function paddingIsZero(bytes: Uint8Array, start: number, n: number, w: number): boolean {
  const pad = packedLength(n, w) * 8 - n * w;
  return pad === 0 || (bytes[start + packedLength(n, w) - 1] & ((1 << pad) - 1)) === 0;
}

/** w ≤ 16 bits starting anywhere in a byte always lie within a 3-byte window. */
function readBits(bytes: Uint8Array, start: number, end: number, bit: number, w: number): number {
  const i = start + (bit >>> 3);
  const b1 = i + 1 < end ? bytes[i + 1] : 0;
  const b2 = i + 2 < end ? bytes[i + 2] : 0;
  const window = (bytes[i] << 16) | (b1 << 8) | b2;
  return (window >>> (24 - (bit & 7) - w)) & ((1 << w) - 1);
}

function unpack(
  bytes: Uint8Array,
  start: number,
  n: number,
  w: number,
  method: 'bitpacked' | 'bitpacked_headerless',
  notes: string[],
): { ok: true; method: typeof method; values: number[]; quality: Quality[]; notes: string[] } {
  const values = new Array<number>(n);
  const quality = new Array<Quality>(n);
  const lossy: number[] = [];
  for (let i = 0, bit = 0; i < n; i++, bit += w) {
    values[i] = readBits(bytes, start, bytes.length, bit, w);
    if (spansThreeBytes(bit, w)) {
      quality[i] = 'approximate';
      lossy.push(i);
    } else {
      quality[i] = 'exact';
    }
  }
  if (lossy.length > 0) {
    notes.push(
      `positions [${lossy.join(', ')}] spanned three bytes: the device kept only their top bits, ` +
        'so each value is a lower bound',
    );
  }
  return { ok: true, method, values, quality, notes };
}
