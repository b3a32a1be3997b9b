/**
 * `0x50` semantic run-length format (PROTOCOL.md §3.3.3). Lossy twice over: run members become the
 * run head, and types 2/3/5 keep only the low byte. The decoder marks exactly what survives.
 */
import { type DecodeResult, decodeFailure, type Quality } from './types.js';

export const SEMANTIC_MARKER = 0x50;
const TYPE_COUNT = 8;
const MAX_RUN = 255;

/** Type id per RegID 0..9 (`getRegisterTypeId`); every other RegID is type 0. */
const TYPE_OF_REGISTER: readonly number[] = [1, 2, 3, 4, 4, 5, 5, 6, 7, 7];
/** Per type id 0..7: run tolerance (`getTypeTolerances`). */
const TOLERANCE: readonly number[] = [0, 10, 5, 1, 15, 3, 5, 50];
/** Per type id 0..7: bytes per run head; `getBitsForType` ≤ 8 keeps only `value & 0xFF`. */
const HEAD_BYTES: readonly number[] = [2, 2, 1, 1, 2, 1, 2, 2];

export function semanticTypeOf(register: number): number {
  return TYPE_OF_REGISTER[register] ?? 0;
}

export function semanticTolerance(typeId: number): number {
  return TOLERANCE[typeId] ?? 0;
}

/** `compressWithSemanticRLE` exactly (counts and positions are u8 on the wire, as on the device). */
export function encodeSemantic(values: ArrayLike<number>, registers: ArrayLike<number>): Uint8Array {
  const n = values.length;
  // Groups in order of first appearance of their type.
  const order: number[] = [];
  const members: number[][] = [];
  for (let i = 0; i < n; i++) {
    const t = semanticTypeOf(registers[i]);
    if (members[t] === undefined) {
      members[t] = [];
      order.push(t);
    }
    members[t].push(i);
  }
  const out = new Uint8Array(3 + 2 * order.length + 4 * n);
  out[0] = SEMANTIC_MARKER;
  out[1] = n & 0xff;
  out[2] = order.length;
  let at = 3;
  for (const t of order) {
    const positions = members[t];
    out[at++] = t;
    out[at++] = positions.length & 0xff;
    for (const p of positions) out[at++] = p & 0xff;
    const tolerance = TOLERANCE[t];
    for (let k = 0; k < positions.length; ) {
      const head = values[positions[k]];
      let run = 1;
      while (k + run < positions.length && run < MAX_RUN) {
        if (Math.abs(values[positions[k + run]] - head) > tolerance) break;
        run++;
      }
      out[at++] = head & 0xff;
      if (HEAD_BYTES[t] === 2) out[at++] = (head >> 8) & 0xff;
      out[at++] = run;
      k += run;
    }
  }
  return out.slice(0, at);
}

/**
 * Decodes a `0x50` packet. Qualities: a run head of a 2-byte type is `exact`; run members are
 * `approximate` (within the type's tolerance of the head) except for type 0, whose tolerance is 0;
 * every value of a 1-byte type is `approximate` (only its low byte is known). Anything the device
 * cannot have written (unknown type, bad or repeated positions, runs past the group) is a typed
 * error; positions no group covers are `missing`.
 *
 * `registers`, when given, must agree with the stream's type ids: a mismatch means the caller's
 * layout is not the one the device compressed with.
 */
export function decodeSemantic(
  bytes: Uint8Array,
  count?: number,
  registers?: readonly number[],
): DecodeResult {
  if (bytes.length < 3)
    return decodeFailure('truncated', `semantic header needs 3 bytes, got ${bytes.length}`);
  if (bytes[0] !== SEMANTIC_MARKER) return decodeFailure('unknown_marker', 'semantic marker 0x50 expected');
  const n = bytes[1];
  const expected = count ?? registers?.length;
  if (expected !== undefined && expected !== n) {
    return decodeFailure('bad_count', `semantic packet holds ${n} values, expected ${expected}`);
  }
  const groups = bytes[2];
  if (groups > TYPE_COUNT)
    return decodeFailure('bad_value', `semantic packet claims ${groups} groups (at most 8)`);
  const values: (number | null)[] = new Array(n).fill(null);
  const quality: Quality[] = new Array(n).fill('missing');
  let seenTypes = 0;
  let at = 3;
  let approximated = 0;
  let truncatedTypes = false;
  for (let g = 0; g < groups; g++) {
    if (at + 2 > bytes.length) return decodeFailure('truncated', `semantic group ${g} header is cut short`);
    const t = bytes[at];
    const m = bytes[at + 1];
    at += 2;
    if (t >= TYPE_COUNT) return decodeFailure('bad_value', `semantic type id ${t} is unknown`);
    if (seenTypes & (1 << t)) return decodeFailure('bad_value', `semantic type ${t} appears twice`);
    seenTypes |= 1 << t;
    if (m === 0) return decodeFailure('bad_value', `semantic group of type ${t} is empty`);
    if (at + m > bytes.length)
      return decodeFailure('truncated', `semantic group of type ${t} positions cut short`);
    const first = at;
    for (let k = 0; k < m; k++) {
      const p = bytes[at + k];
      if (p >= n) return decodeFailure('bad_value', `semantic position ${p} is outside 0..${n - 1}`);
      if (k > 0 && p <= bytes[at + k - 1]) {
        return decodeFailure('bad_value', `semantic positions of type ${t} are not strictly ascending`);
      }
      if (quality[p] !== 'missing') return decodeFailure('bad_value', `semantic position ${p} appears twice`);
      if (registers !== undefined && semanticTypeOf(registers[p]) !== t) {
        return decodeFailure(
          'bad_value',
          `semantic type ${t} at position ${p}, but register ${registers[p]} has type ${semanticTypeOf(registers[p])}`,
        );
      }
    }
    at += m;
    const wide = HEAD_BYTES[t] === 2;
    const memberQuality: Quality = TOLERANCE[t] === 0 ? 'exact' : 'approximate';
    if (!wide) truncatedTypes = true;
    for (let k = 0; k < m; ) {
      const runAt = at + (wide ? 2 : 1);
      if (runAt >= bytes.length) return decodeFailure('truncated', `semantic run of type ${t} is cut short`);
      const head = wide ? bytes[at] | (bytes[at + 1] << 8) : bytes[at];
      const run = bytes[runAt];
      at = runAt + 1;
      if (run === 0) return decodeFailure('bad_value', `semantic run of length 0 in type ${t}`);
      if (k + run > m)
        return decodeFailure('bad_value', `semantic run overflows the ${m} members of type ${t}`);
      for (let r = 0; r < run; r++) {
        const p = bytes[first + k + r];
        values[p] = head;
        quality[p] = !wide ? 'approximate' : r === 0 ? 'exact' : memberQuality;
      }
      if (wide && memberQuality === 'approximate') approximated += run - 1;
      k += run;
    }
  }
  if (at !== bytes.length) {
    return decodeFailure('trailing_bytes', `${bytes.length - at} bytes after the last semantic group`);
  }
  const notes: string[] = [];
  if (truncatedTypes) notes.push('semantic types 2/3/5 carry only the low byte of each value');
  if (approximated > 0) notes.push(`semantic RLE: ${approximated} run members replaced by their run head`);
  let uncovered = 0;
  for (let i = 0; i < n; i++) if (quality[i] === 'missing') uncovered++;
  if (uncovered > 0) notes.push(`semantic groups leave ${uncovered} positions uncovered`);
  return { ok: true, method: 'semantic_rle', values, quality, notes };
}
