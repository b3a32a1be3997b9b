/**
 * Lossless batch codec `0xE1` of protocol v2 (PROTOCOL.md §11.2):
 *
 *   0xE1, s (u8), r (u8), r RegIDs (u8),
 *   per register column j: v[0][j] as u16 LE, then s − 1 deltas v[k][j] − v[k−1][j],
 *   zigzag-encoded, LEB128.
 *
 * A delta lies in −65535..65535, so its zigzag form needs 17 bits and at most 3 varint bytes.
 * The decoder accepts only the canonical (shortest) varint, so every batch has exactly one
 * encoding — which lets "the same packet bytes" mean "the same data". With s = 0 the columns
 * carry no bytes at all.
 */

import type { Decoded, DecodeFailure, Quality } from './types.js';

const MARKER = 0xe1;
const MAX_ZIGZAG = 2 * 0xffff; // zigzag(−65535) = 131069, zigzag(65535) = 131070
const MAX_VARINT_BYTES = 3;

export interface E1Decoded extends Decoded {
  readonly method: 'lossless_e1';
  readonly samples: number;
  readonly registers: number[];
  /** Sample-major: values[k·r + j] = register j of sample k. */
  readonly values: number[];
}

export type E1DecodeResult = ({ readonly ok: true } & E1Decoded) | ({ readonly ok: false } & DecodeFailure);

function isU(x: unknown, max: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
}

/**
 * samples[k][j] = register j of sample k. Input E1 cannot carry exactly (more than 255 samples
 * or registers, ragged rows, values outside u16, RegIDs outside u8) yields an empty array:
 * the codec promises losslessness, so nothing is coerced.
 */
export function encodeE1(samples: readonly (readonly number[])[], registers: readonly number[]): Uint8Array {
  const s = samples.length;
  const r = registers.length;
  if (s > 0xff || r > 0xff || !registers.every((id) => isU(id, 0xff))) return new Uint8Array(0);
  for (const row of samples) {
    if (row.length !== r || !row.every((v) => isU(v, 0xffff))) return new Uint8Array(0);
  }
  const out = new Uint8Array(3 + r + (s === 0 ? 0 : r * (2 + MAX_VARINT_BYTES * (s - 1))));
  out[0] = MARKER;
  out[1] = s;
  out[2] = r;
  out.set(registers, 3);
  let p = 3 + r;
  if (s === 0) return out.slice(0, p);
  for (let j = 0; j < r; j++) {
    let prev = samples[0][j];
    out[p++] = prev & 0xff;
    out[p++] = prev >>> 8;
    for (let k = 1; k < s; k++) {
      const v = samples[k][j];
      const d = v - prev;
      let z = d >= 0 ? 2 * d : -2 * d - 1;
      while (z >= 0x80) {
        out[p++] = (z & 0x7f) | 0x80;
        z >>>= 7;
      }
      out[p++] = z;
      prev = v;
    }
  }
  return out.slice(0, p);
}

function fail(code: DecodeFailure['code'], message: string): E1DecodeResult {
  return { ok: false, code, message };
}

export function decodeE1(bytes: Uint8Array): E1DecodeResult {
  const len = bytes.length;
  if (len === 0) return fail('empty', 'E1: no bytes');
  if (bytes[0] !== MARKER) return fail('unknown_marker', `E1: marker 0x${bytes[0].toString(16)} is not 0xe1`);
  if (len < 3) return fail('truncated', 'E1: header is cut short');
  const s = bytes[1];
  const r = bytes[2];
  if (len < 3 + r) return fail('truncated', `E1: ${r} RegIDs announced, ${len - 3} bytes left`);
  const registers = Array.from(bytes.subarray(3, 3 + r));
  const values = new Array<number>(s * r);
  let p = 3 + r;
  for (let j = 0; j < r && s > 0; j++) {
    if (p + 2 > len) return fail('truncated', `E1: first value of column ${j} missing`);
    let v = bytes[p] | (bytes[p + 1] << 8);
    p += 2;
    values[j] = v;
    for (let k = 1; k < s; k++) {
      // LEB128, at most 3 bytes, shortest form only.
      let z = 0;
      let n = 0;
      let b: number;
      do {
        // A 4th byte is never valid, so that verdict comes before "the input ended".
        if (n === MAX_VARINT_BYTES)
          return fail('bad_value', `E1: delta ${k} of column ${j} longer than 3 bytes`);
        if (p >= len) return fail('truncated', `E1: delta ${k} of column ${j} cut short`);
        b = bytes[p++];
        z |= (b & 0x7f) << (7 * n);
        n++;
      } while (b & 0x80);
      if (n > 1 && b === 0) return fail('bad_value', `E1: delta ${k} of column ${j} is not in shortest form`);
      if (z > MAX_ZIGZAG) return fail('bad_value', `E1: delta ${k} of column ${j} overflows 17 bits`);
      v += z & 1 ? -((z + 1) / 2) : z / 2;
      if (v < 0 || v > 0xffff)
        return fail('bad_value', `E1: sample ${k} of column ${j} leaves 0..65535 (${v})`);
      values[k * r + j] = v;
    }
  }
  if (p < len) return fail('trailing_bytes', `E1: ${len - p} bytes after the last column`);
  const quality = new Array<Quality>(s * r).fill('exact');
  return { ok: true, method: 'lossless_e1', samples: s, registers, values, quality, notes: [] };
}
