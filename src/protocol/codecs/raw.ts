/**
 * Raw u16 storage, the device's `storeAsRawBinary` (PROTOCOL.md §3.3.5):
 *   n ≤ 8 : v[i] as u16 LE, no header (2n bytes; n = 0 gives nothing at all)
 *   n > 8 : 0x00, n (u8), v[i] as u16 LE
 * The decoders accept only what the device can emit, so that a dispatcher trying several
 * readings of a header-less stream is not misled by an impossible one.
 */

import { type DecodeResult, decodeFailure, type Quality } from './types.js';

/** Largest count the device writes without a header. */
export const RAW_HEADERLESS_MAX = 8;

/** The device's storeAsRawBinary. Values are converted like a C `uint16_t` (mod 2^16). */
export function encodeRaw(values: readonly number[]): Uint8Array {
  const n = values.length;
  const offset = n > RAW_HEADERLESS_MAX ? 2 : 0;
  const out = new Uint8Array(offset + 2 * n);
  if (offset) {
    out[0] = 0x00;
    // The device pushes `count` into a byte vector: counts above 255 wrap, as there.
    out[1] = n & 0xff;
  }
  for (let i = 0, p = offset; i < n; i++, p += 2) {
    const v = values[i] & 0xffff;
    out[p] = v & 0xff;
    out[p + 1] = v >>> 8;
  }
  return out;
}

/** `0x00, n, u16 LE…` — only ever written for n > 8. */
export function decodeRaw(bytes: Uint8Array, count?: number): DecodeResult {
  if (bytes.length === 0) return decodeFailure('empty', 'raw: no bytes');
  if (bytes[0] !== 0x00) return decodeFailure('unknown_marker', `raw: marker 0x${hex(bytes[0])} is not 0x00`);
  if (bytes.length < 2) return decodeFailure('truncated', 'raw: header is cut short');
  const n = bytes[1];
  if (count !== undefined && count !== n) {
    return decodeFailure('bad_count', `raw: header says ${n} values, the packet ${String(count)}`);
  }
  if (n <= RAW_HEADERLESS_MAX) {
    return decodeFailure('bad_count', `raw: the device never writes a header for ${n} ≤ 8 values`);
  }
  return readValues(bytes, 2, n, 'raw');
}

/**
 * Header-less raw: exactly 2·count bytes, count ≤ 8. Count 0 is the device's empty output and
 * is reported as method `empty`.
 */
export function decodeRawHeaderless(bytes: Uint8Array, count: number): DecodeResult {
  if (!Number.isInteger(count) || count < 0 || count > RAW_HEADERLESS_MAX) {
    return decodeFailure(
      'bad_count',
      `raw (header-less): the device writes a header for ${String(count)} values`,
    );
  }
  if (count === 0) {
    if (bytes.length !== 0) return decodeFailure('trailing_bytes', 'raw (header-less): bytes for 0 values');
    return { ok: true, method: 'empty', values: [], quality: [], notes: [] };
  }
  if (bytes.length === 0) return decodeFailure('empty', 'raw (header-less): no bytes');
  return readValues(bytes, 0, count, 'raw_headerless');
}

function readValues(
  bytes: Uint8Array,
  offset: number,
  n: number,
  method: 'raw' | 'raw_headerless',
): DecodeResult {
  const need = offset + 2 * n;
  if (bytes.length < need) {
    return decodeFailure('truncated', `${method}: ${n} values need ${need} bytes, got ${bytes.length}`);
  }
  if (bytes.length > need) {
    return decodeFailure('trailing_bytes', `${method}: ${bytes.length - need} bytes after ${n} values`);
  }
  const values = new Array<number>(n);
  for (let i = 0, p = offset; i < n; i++, p += 2) values[i] = bytes[p] | (bytes[p + 1] << 8);
  const quality = new Array<Quality>(n).fill('exact');
  return { ok: true, method, values, quality, notes: [] };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
