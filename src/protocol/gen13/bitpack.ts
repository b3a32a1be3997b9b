/**
 * `0x01` bit-packing of firmware 1.3 (compression.cpp:746-808, PROTOCOL-1.3.md §4):
 *
 *   01 | w | n (u8) | n values of w bits, MSB first, last byte zero-padded
 *
 * w = max(8, bit length of the largest value), so 8..16. Unlike e84f720 the header is always
 * written, there is no raw fallback, and values spanning three bytes are packed whole: lossless.
 */
import { type DecodeResult, decodeFailure } from '../codecs/types.js';
import { allExact, assertValues, bitLength, hex2 } from './values.js';

export const BITPACK13_MARKER = 0x01;
const HEADER = 3;
const MIN_WIDTH = 8;
const MAX_WIDTH = 16;

/** The width the firmware picks for these values. */
export function bitpackWidth13(values: readonly number[]): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return Math.max(MIN_WIDTH, bitLength(max));
}

/**
 * compressBinary at 1.3. Empty input gives an empty result, as on the device (which also sets an
 * error). The count byte wraps above 255 like the firmware's uint8_t.
 */
export function encodeBitpack13(values: readonly number[]): Uint8Array {
  assertValues(values);
  const n = values.length;
  if (n === 0) return new Uint8Array(0);
  const w = bitpackWidth13(values);
  const out = new Uint8Array(HEADER + Math.ceil((n * w) / 8));
  out[0] = BITPACK13_MARKER;
  out[1] = w;
  out[2] = n & 0xff;
  let bit = HEADER * 8;
  for (const v of values) {
    for (let b = w - 1; b >= 0; b--, bit++) {
      if ((v >>> b) & 1) out[bit >>> 3] |= 0x80 >>> (bit & 7);
    }
  }
  return out;
}

/**
 * Decodes a `0x01` packet of `n` values (n from the caller: the header byte is n mod 256).
 * Everything the firmware would not write is rejected, so a stray stream is not read as data:
 * widths outside 8..16 or wider than needed, a length that is not exactly the header's, set
 * padding bits.
 */
export function decodeBitpack13(bytes: Uint8Array, n: number): DecodeResult {
  if (bytes.length === 0) return decodeFailure('empty', 'bit-packed: no bytes');
  if (bytes[0] !== BITPACK13_MARKER) {
    return decodeFailure('unknown_marker', `bit-packed: marker 0x${hex2(bytes[0])} is not 0x01`);
  }
  if (bytes.length < HEADER) return decodeFailure('truncated', 'bit-packed: header is cut short');
  if (!Number.isInteger(n) || n < 1) return decodeFailure('bad_count', `bit-packed: impossible count ${n}`);
  const w = bytes[1];
  if (w < MIN_WIDTH || w > MAX_WIDTH) {
    return decodeFailure(
      'bad_width',
      `bit-packed: width ${w} outside 8..16 (firmware 1.3 never packs narrower)`,
    );
  }
  if (bytes[2] !== (n & 0xff)) {
    return decodeFailure('bad_count', `bit-packed: header count ${bytes[2]} is not ${n} mod 256`);
  }
  const need = HEADER + Math.ceil((n * w) / 8);
  if (bytes.length < need) {
    return decodeFailure('truncated', `bit-packed: ${n}×${w} bits need ${need} bytes, got ${bytes.length}`);
  }
  if (bytes.length > need) {
    return decodeFailure('trailing_bytes', `bit-packed: ${bytes.length - need} bytes after the values`);
  }
  const values = new Array<number>(n);
  let bit = HEADER * 8;
  let max = 0;
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let b = 0; b < w; b++, bit++) v = (v << 1) | ((bytes[bit >>> 3] >>> (7 - (bit & 7))) & 1);
    values[i] = v;
    if (v > max) max = v;
  }
  for (; bit < need * 8; bit++) {
    if ((bytes[bit >>> 3] >>> (7 - (bit & 7))) & 1) {
      return decodeFailure('bad_value', 'bit-packed: padding bits are set (the firmware zero-fills them)');
    }
  }
  if (Math.max(MIN_WIDTH, bitLength(max)) !== w) {
    return decodeFailure(
      'bad_width',
      `bit-packed: width ${w}, but the largest value ${max} needs fewer bits`,
    );
  }
  const notes =
    n > 0xff ? [`count byte wrapped (${bytes[2]} = ${n} mod 256); ${n} taken from the caller`] : [];
  return { ok: true, method: 'bitpacked', values, quality: allExact(n), notes };
}
