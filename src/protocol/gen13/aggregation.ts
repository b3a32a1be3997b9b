/**
 * `0xAA` aggregation summary of firmware 1.3 (src/application/aggregation.cpp:138-186):
 *
 *   AA | mode | samples (u8) | regs (u8) | t_start u32 BE | t_end u32 BE | regs × RegID
 *      | regs × min u16 BE | regs × max u16 BE | [regs × avg u16 BE when mode = 2]
 *
 * Nothing in the live upload path calls it at 1.3 (aggregation mode defaults to disabled); it is
 * decoded so that such a packet is recognised instead of quarantined as garbage. It carries no
 * per-sample values: only the summary. Timestamps are the device's u32 sample stamps (unix ms
 * truncated to 32 bits on the live path), avg is floor(sum / samples).
 */
import type { DecodeErrorCode, DecodeFailure } from '../codecs/types.js';
import { hex2 } from './values.js';

export const AGGREGATION13_MARKER = 0xaa;
const HEADER = 12;
/** AggregationMode: 0 disabled (still serialised, min/max only), 1 min/max, 2 full. */
const MODE_FULL = 2;
const MODE_MAX = 2;

export interface Aggregation13Summary {
  readonly mode: number;
  readonly sampleCount: number;
  readonly registerCount: number;
  readonly tStart: number;
  readonly tEnd: number;
  readonly registers: number[];
  readonly min: number[];
  readonly max: number[];
  /** Only in mode 2. */
  readonly avg: number[] | null;
}

export type Aggregation13Result =
  | { readonly ok: true; readonly summary: Aggregation13Summary }
  | ({ readonly ok: false } & DecodeFailure);

function fail(code: DecodeErrorCode, message: string): Aggregation13Result {
  return { ok: false, code, message };
}

export function decodeAggregation13(bytes: Uint8Array): Aggregation13Result {
  if (bytes.length === 0) return fail('empty', 'aggregation: no bytes');
  if (bytes[0] !== AGGREGATION13_MARKER) {
    return fail('unknown_marker', `aggregation: marker 0x${hex2(bytes[0])} is not 0xaa`);
  }
  if (bytes.length < HEADER) return fail('truncated', 'aggregation: header is cut short');
  const mode = bytes[1];
  if (mode > MODE_MAX) return fail('bad_value', `aggregation: mode ${mode} is unknown`);
  const sampleCount = bytes[2];
  const registerCount = bytes[3];
  if (sampleCount === 0 || registerCount === 0) {
    return fail('bad_count', 'aggregation: the firmware never summarises zero samples or registers');
  }
  const arrays = mode === MODE_FULL ? 3 : 2;
  const need = HEADER + registerCount + arrays * 2 * registerCount;
  if (bytes.length < need) {
    return fail('truncated', `aggregation: ${need} bytes needed, got ${bytes.length}`);
  }
  if (bytes.length > need) {
    return fail('trailing_bytes', `aggregation: ${bytes.length - need} extra bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const registers = Array.from(bytes.subarray(HEADER, HEADER + registerCount));
  const u16s = (k: number) =>
    Array.from({ length: registerCount }, (_, i) =>
      view.getUint16(HEADER + registerCount + 2 * (k * registerCount + i)),
    );
  const min = u16s(0);
  const max = u16s(1);
  const avg = mode === MODE_FULL ? u16s(2) : null;
  for (let i = 0; i < registerCount; i++) {
    if (min[i] > max[i] || (avg && (avg[i] < min[i] || avg[i] > max[i]))) {
      return fail('bad_value', `aggregation: register ${registers[i]} has min > avg/max`);
    }
  }
  const tStart = view.getUint32(4);
  const tEnd = view.getUint32(8);
  return { ok: true, summary: { mode, sampleCount, registerCount, tStart, tEnd, registers, min, max, avg } };
}

/** serializeAggregated, for tests and simulators. Throws on fields the wire cannot hold. */
export function encodeAggregation13(s: Aggregation13Summary): Uint8Array {
  const k = s.registerCount;
  if (s.registers.length !== k || s.min.length !== k || s.max.length !== k) {
    throw new RangeError('aggregation: registers, min and max must have registerCount entries');
  }
  const full = s.mode === MODE_FULL;
  if (full && (!s.avg || s.avg.length !== k)) throw new RangeError('aggregation: mode 2 needs avg');
  const out = new Uint8Array(HEADER + k + (full ? 3 : 2) * 2 * k);
  const view = new DataView(out.buffer);
  out.set([AGGREGATION13_MARKER, s.mode & 0xff, s.sampleCount & 0xff, k & 0xff]);
  view.setUint32(4, s.tStart >>> 0);
  view.setUint32(8, s.tEnd >>> 0);
  out.set(s.registers, HEADER);
  const arrays = full ? [s.min, s.max, s.avg as number[]] : [s.min, s.max];
  arrays.forEach((a, j) => {
    for (let i = 0; i < k; i++) view.setUint16(HEADER + k + 2 * (j * k + i), a[i]);
  });
  return out;
}
