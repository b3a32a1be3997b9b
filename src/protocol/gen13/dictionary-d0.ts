/**
 * `0xD0` float dictionary of firmware 1.3 (compression.cpp:176-262, PROTOCOL-1.3.md §4):
 *
 *   D0 | n (u8) | k (u8) | k × float32 LE (distinct values, first-seen order) | n indices
 *
 * Index width w = bit length of k; index i sits at bit offset i·w, LSB first; the last byte is
 * zero-padded. Emitted only when 3 + 4k + ceil(n·w/8) < 2n, otherwise the firmware returns a
 * `0x01` packet instead. Unrelated to the e84f720 `0xD0` pattern format despite the marker.
 */
import { type DecodeResult, decodeFailure } from '../codecs/types.js';
import { encodeBitpack13 } from './bitpack.js';
import { allExact, assertValues, bitLength, hex2 } from './values.js';

export const DICTIONARY_D0_MARKER = 0xd0;
const HEADER = 3;

function d0Length(n: number, k: number): number {
  return HEADER + 4 * k + Math.ceil((n * Math.max(1, bitLength(k))) / 8);
}

/** compressWithDictionary at 1.3, fallback to bit-packing included. */
export function encodeDictionaryD0(values: readonly number[]): Uint8Array {
  assertValues(values);
  const n = values.length;
  const unique: number[] = [];
  const slot = new Map<number, number>();
  const indices = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let at = slot.get(values[i]);
    if (at === undefined) {
      at = unique.length;
      slot.set(values[i], at);
      unique.push(values[i]);
    }
    indices[i] = at;
  }
  const k = unique.length;
  // The firmware compares against 2n with `>=`: equal size is not worth it.
  if (d0Length(n, k) >= 2 * n) return encodeBitpack13(values);
  const w = Math.max(1, bitLength(k));
  const out = new Uint8Array(d0Length(n, k));
  out[0] = DICTIONARY_D0_MARKER;
  out[1] = n & 0xff;
  out[2] = k & 0xff;
  const view = new DataView(out.buffer);
  for (let j = 0; j < k; j++) view.setFloat32(HEADER + 4 * j, unique[j], true);
  let bit = (HEADER + 4 * k) * 8;
  for (let i = 0; i < n; i++) {
    // Indices are uint8_t on the device: above 255 distinct values the high bits are lost.
    const index = indices[i] & 0xff;
    for (let b = 0; b < w; b++, bit++) {
      if (b < 8 && (index >>> b) & 1) out[bit >>> 3] |= 1 << (bit & 7);
    }
  }
  return out;
}

/**
 * Decodes a `D0` packet of `n` values (from the caller; the header holds n mod 256). The bytes are
 * checked against everything the firmware guarantees (exact length, distinct integer entries in
 * first-seen order, every entry used, zero padding, and that D0 was actually smaller than 2n), so
 * a wrong n or a foreign stream fails instead of decoding to plausible numbers. With n ≥ 256 the
 * caller's n plus the exact length still fix every index, so such packets decode exactly.
 */
export function decodeDictionaryD0(bytes: Uint8Array, n: number): DecodeResult {
  if (bytes.length === 0) return decodeFailure('empty', 'dictionary: no bytes');
  if (bytes[0] !== DICTIONARY_D0_MARKER) {
    return decodeFailure('unknown_marker', `dictionary: marker 0x${hex2(bytes[0])} is not 0xd0`);
  }
  if (bytes.length < HEADER) return decodeFailure('truncated', 'dictionary: header is cut short');
  if (!Number.isInteger(n) || n < 1) return decodeFailure('bad_count', `dictionary: impossible count ${n}`);
  if (bytes[1] !== (n & 0xff)) {
    return decodeFailure('bad_count', `dictionary: header count ${bytes[1]} is not ${n} mod 256`);
  }
  const k = bytes[2];
  if (k === 0) return decodeFailure('bad_value', 'dictionary: no entries for a non-empty packet');
  if (k > n) return decodeFailure('bad_value', `dictionary: ${k} entries for ${n} values`);
  const need = d0Length(n, k);
  if (bytes.length < need) {
    return decodeFailure(
      'truncated',
      `dictionary: ${k} entries and ${n} indices need ${need} bytes, got ${bytes.length}`,
    );
  }
  if (bytes.length > need) {
    return decodeFailure('trailing_bytes', `dictionary: ${bytes.length - need} bytes after the indices`);
  }
  if (need >= 2 * n) {
    return decodeFailure(
      'bad_value',
      `dictionary: ${need} bytes ≥ 2n, the firmware would have bit-packed instead`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = new Array<number>(k);
  const seen = new Set<number>();
  for (let j = 0; j < k; j++) {
    const f = view.getFloat32(HEADER + 4 * j, true);
    // A register value is an integer 0..65535: anything else cannot come from the firmware.
    if (!Number.isInteger(f) || f < 0 || f > 0xffff || Object.is(f, -0)) {
      return decodeFailure('bad_value', `dictionary: entry ${j} is ${f}, not a register value`);
    }
    if (seen.has(f)) return decodeFailure('bad_value', `dictionary: entry ${j} (${f}) appears twice`);
    seen.add(f);
    entries[j] = f;
  }
  const w = Math.max(1, bitLength(k));
  const values = new Array<number>(n);
  let bit = (HEADER + 4 * k) * 8;
  let next = 0; // entries are added in first-seen order, so index i may be at most `next`
  for (let i = 0; i < n; i++) {
    let index = 0;
    for (let b = 0; b < w; b++, bit++) index |= ((bytes[bit >>> 3] >>> (bit & 7)) & 1) << b;
    if (index >= k) return decodeFailure('bad_value', `dictionary: index ${index} at ${i} ≥ ${k} entries`);
    if (index > next) {
      return decodeFailure('bad_value', `dictionary: index ${index} at ${i} before entry ${next} was used`);
    }
    if (index === next) next++;
    values[i] = entries[index];
  }
  if (next !== k) return decodeFailure('bad_value', `dictionary: entries ${next}..${k - 1} are never used`);
  for (; bit < need * 8; bit++) {
    if ((bytes[bit >>> 3] >>> (bit & 7)) & 1) {
      return decodeFailure('bad_value', 'dictionary: padding bits are set (the firmware zero-fills them)');
    }
  }
  const notes =
    n > 0xff ? [`count byte wrapped (${bytes[1]} = ${n} mod 256); ${n} taken from the caller`] : [];
  return { ok: true, method: 'dictionary_float', values, quality: allExact(n), notes };
}
