/**
 * `0x50` semantic run-length format of firmware 1.3 (compression.cpp:384-478, PROTOCOL-1.3.md §4):
 *
 *   50 | n (u8) | g (u8) | g × ( type | m (u8) | m positions (u8) | runs )
 *   run = value_lo [value_hi] run_len      (no value_hi for types 2, 3, 5)
 *
 * Values are grouped by register type in order of first appearance; within a group a run takes
 * every following value within the type's tolerance of its first value (at most 255).
 *
 * What the bytes prove (the decoder's quality rule):
 *   - types with a high byte (1, 4, 6, 7, 0): the first value of each run is stored whole, so it is
 *     `exact` (a run of length 1 is therefore exact); the other members of a run are only known to
 *     lie within ±tolerance of it: `approximate` (type 0 has tolerance 0, so its members are exact);
 *   - types 2, 3, 5 (Iac1, Fac1, Ipv1/2): only `value & 0xFF` survives, even for run heads, so the
 *     true value is the decoded one plus an unknown multiple of 256: never `exact`. They are
 *     reported `approximate` with the low byte as the value, as the e84f720 decoder does; a reader
 *     must not treat them as magnitudes (Fac1 = 5000 reads as 136).
 */
import { type DecodeResult, decodeFailure, type Quality } from '../codecs/types.js';
import { assertBatch, hex2 } from './values.js';

export const SEMANTIC13_MARKER = 0x50;
const TYPE_COUNT = 8;
const MAX_RUN = 255;
/** getRegisterTypeId per RegID 0..9; anything else is type 0. */
const TYPE_OF_REGISTER: readonly number[] = [1, 2, 3, 4, 4, 5, 5, 6, 7, 7];
/** getTypeTolerances per type 0..7. */
const TOLERANCE: readonly number[] = [0, 10, 5, 1, 15, 3, 5, 50];
/** getBitsForType ≤ 8 keeps only the low byte of each run value. */
const HAS_HIGH_BYTE: readonly boolean[] = [true, true, false, false, true, false, true, true];

export function semanticType13(register: number): number {
  return TYPE_OF_REGISTER[register] ?? 0;
}

/** compressWithSemanticRLE at 1.3 (counts, positions and group sizes are u8 as on the device). */
export function encodeSemantic13(values: readonly number[], registers: readonly number[]): Uint8Array {
  assertBatch(registers, values);
  const n = values.length;
  const order: number[] = [];
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const t = semanticType13(registers[i]);
    let m = members.get(t);
    if (!m) {
      m = [];
      members.set(t, m);
      order.push(t);
    }
    m.push(i);
  }
  const out: number[] = [SEMANTIC13_MARKER, n & 0xff, order.length];
  for (const t of order) {
    const positions = members.get(t) as number[];
    out.push(t, positions.length & 0xff);
    for (const p of positions) out.push(p & 0xff);
    for (let k = 0; k < positions.length; ) {
      const head = values[positions[k]];
      let run = 1;
      while (k + run < positions.length && run < MAX_RUN) {
        if (Math.abs(values[positions[k + run]] - head) > TOLERANCE[t]) break;
        run++;
      }
      out.push(head & 0xff);
      if (HAS_HIGH_BYTE[t]) out.push(head >>> 8);
      out.push(run);
      k += run;
    }
  }
  return Uint8Array.from(out);
}

/**
 * Decodes a `0x50` packet for the caller's per-value register ids (n = registers.length; the
 * header holds n mod 256). Structure the firmware cannot produce (a type that does not match the
 * register, a position twice or out of order, groups out of first-appearance order, uncovered
 * positions, runs that do not add up, or a run that stopped although the next head was within
 * tolerance) is rejected as `bad_value`.
 */
export function decodeSemantic13(bytes: Uint8Array, registers: readonly number[]): DecodeResult {
  const n = registers.length;
  if (bytes.length === 0) return decodeFailure('empty', 'semantic: no bytes');
  if (bytes[0] !== SEMANTIC13_MARKER) {
    return decodeFailure('unknown_marker', `semantic: marker 0x${hex2(bytes[0])} is not 0x50`);
  }
  if (bytes.length < 3) return decodeFailure('truncated', 'semantic: header is cut short');
  if (n < 1) return decodeFailure('bad_count', 'semantic: no values expected');
  // Positions are single bytes: beyond 256 values they wrap and cannot be told apart.
  if (n > 256) return decodeFailure('bad_count', `semantic: ${n} positions cannot be addressed by one byte`);
  if (bytes[1] !== (n & 0xff)) {
    return decodeFailure('bad_count', `semantic: header count ${bytes[1]} is not ${n} mod 256`);
  }
  const groups = bytes[2];
  const values = new Array<number | null>(n).fill(null);
  const quality = new Array<Quality>(n).fill('missing');
  // A position is claimed when its group lists it, before its run (and so its quality) is read.
  const taken = new Uint8Array(n);
  let at = 3;
  let seenTypes = 0;
  let lastFirst = -1;
  let covered = 0;
  let lowByteOnly = 0;
  let absorbed = 0;
  for (let g = 0; g < groups; g++) {
    if (at + 2 > bytes.length) return decodeFailure('truncated', `semantic: group ${g} header is cut short`);
    const t = bytes[at];
    const m = bytes[at + 1];
    at += 2;
    if (t >= TYPE_COUNT) return decodeFailure('bad_value', `semantic: type id ${t} is unknown`);
    if (seenTypes & (1 << t)) return decodeFailure('bad_value', `semantic: type ${t} appears twice`);
    seenTypes |= 1 << t;
    if (m === 0) return decodeFailure('bad_value', `semantic: group of type ${t} is empty`);
    if (at + m > bytes.length)
      return decodeFailure('truncated', `semantic: positions of type ${t} cut short`);
    const positions = bytes.subarray(at, at + m);
    at += m;
    for (let j = 0; j < m; j++) {
      const p = positions[j];
      if (p >= n) return decodeFailure('bad_value', `semantic: position ${p} is outside 0..${n - 1}`);
      if (j > 0 && p <= positions[j - 1]) {
        return decodeFailure('bad_value', `semantic: positions of type ${t} are not strictly ascending`);
      }
      if (taken[p]) return decodeFailure('bad_value', `semantic: position ${p} appears twice`);
      const expected = semanticType13(registers[p]);
      if (expected !== t) {
        return decodeFailure(
          'bad_value',
          `semantic: type ${t} at position ${p}, but register ${registers[p]} has type ${expected}`,
        );
      }
      taken[p] = 1;
    }
    if (positions[0] <= lastFirst) {
      return decodeFailure('bad_value', `semantic: group of type ${t} is out of first-appearance order`);
    }
    lastFirst = positions[0];
    covered += m;
    const wide = HAS_HIGH_BYTE[t];
    let previousHead = -1;
    let previousRun = 0;
    for (let k = 0; k < m; ) {
      const size = wide ? 3 : 2;
      if (at + size > bytes.length)
        return decodeFailure('truncated', `semantic: run of type ${t} is cut short`);
      const head = wide ? bytes[at] | (bytes[at + 1] << 8) : bytes[at];
      const run = bytes[at + size - 1];
      at += size;
      if (run === 0) return decodeFailure('bad_value', `semantic: run of length 0 in type ${t}`);
      if (k + run > m)
        return decodeFailure('bad_value', `semantic: run overflows the ${m} members of type ${t}`);
      if (
        wide &&
        previousRun < MAX_RUN &&
        previousHead >= 0 &&
        Math.abs(head - previousHead) <= TOLERANCE[t]
      ) {
        return decodeFailure(
          'bad_value',
          `semantic: run head ${head} of type ${t} would have joined the previous run`,
        );
      }
      for (let r = 0; r < run; r++) {
        const p = positions[k + r];
        values[p] = head;
        if (!wide) {
          quality[p] = 'approximate';
          lowByteOnly++;
        } else if (r === 0 || TOLERANCE[t] === 0) {
          quality[p] = 'exact';
        } else {
          quality[p] = 'approximate';
          absorbed++;
        }
      }
      previousHead = head;
      previousRun = run;
      k += run;
    }
  }
  if (at !== bytes.length)
    return decodeFailure('trailing_bytes', `semantic: ${bytes.length - at} bytes after the last group`);
  if (covered !== n) return decodeFailure('bad_value', `semantic: groups cover ${covered} of ${n} positions`);
  const notes: string[] = [];
  if (lowByteOnly > 0) {
    notes.push(`${lowByteOnly} values of types 2/3/5 carry only their low byte (true value = it + k·256)`);
  }
  if (absorbed > 0)
    notes.push(`${absorbed} run members replaced by their run head (within the type tolerance)`);
  if (n === 256) notes.push('count byte wrapped (0 = 256 mod 256); 256 taken from the caller');
  return { ok: true, method: 'semantic_rle', values, quality, notes };
}
