/**
 * `0xD0` dictionary + bitmask format (PROTOCOL.md §3.3.1): the device's encoder, byte for byte, and a
 * decoder that says exactly how much of each value it can know.
 */
import { compressBinary } from './bitpack.js';
import type { Decoded, DecodeFailure, Quality } from './types.js';

export const DICTIONARY_MARKER = 0xd0;
/** A pattern is indexed by RegID, not by payload position. */
export type Pattern = readonly number[];

/** The 4 built-in patterns of `initializeSensorDictionary` (RegIDs 0..9). */
export const DEVICE_PATTERNS: readonly Pattern[] = Object.freeze([
  Object.freeze([2400, 170, 50, 400, 380, 70, 65, 550, 4000, 4200]),
  Object.freeze([2380, 100, 50, 200, 180, 30, 25, 520, 2000, 2500]),
  Object.freeze([2450, 200, 50, 450, 420, 90, 85, 580, 5000, 5200]),
  Object.freeze([2430, 165, 50, 350, 350, 70, 65, 545, 4100, 4150]),
]);

/** A pattern is used only while the mean absolute distance (integer division) stays below this. */
export const DICTIONARY_MATCH_LIMIT = 200;
const HEADER_BYTES = 5;
/** The mask is a u16, so only the first 16 positions can be flagged. */
const MASK_POSITIONS = 16;

/**
 * RegIDs ≥ 10 read past the device's 10-entry array (undefined behaviour there); we read them as
 * whatever a learned pattern stored, else 0, which is the best defined stand-in.
 */
export function patternValue(pattern: Pattern, register: number): number {
  return pattern[register] ?? 0;
}

/** `findClosestDictionaryPattern`: index of the closest pattern (first wins ties), or −1. */
export function findClosestPattern(
  values: ArrayLike<number>,
  registers: ArrayLike<number>,
  patterns: readonly Pattern[],
): number {
  const n = values.length;
  if (patterns.length === 0 || n === 0) return -1;
  let best = -1;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (let p = 0; p < patterns.length; p++) {
    let distance = 0;
    for (let i = 0; i < n; i++) distance += Math.abs(values[i] - patternValue(patterns[p], registers[i]));
    if (distance < bestDistance) {
      bestDistance = distance;
      best = p;
    }
  }
  return Math.floor(bestDistance / n) < DICTIONARY_MATCH_LIMIT ? best : -1;
}

/** (i16)((i16)v − (i16)p): the device's wrapping delta. */
function wrappedDelta(value: number, base: number): number {
  return (((value - base) << 16) >> 16) | 0;
}

/** `compressWithDictionary` exactly, including the `compressBinary` fallback and the 16-bit mask. */
export function encodeDictionary(
  values: readonly number[],
  registers: ArrayLike<number>,
  patterns: readonly Pattern[] = DEVICE_PATTERNS,
): Uint8Array {
  const index = findClosestPattern(values, registers, patterns);
  if (index < 0) return compressBinary(values);
  const pattern = patterns[index];
  const n = values.length;
  const out = new Uint8Array(HEADER_BYTES + 3 * n);
  out[0] = DICTIONARY_MARKER;
  out[1] = index & 0xff;
  out[2] = n & 0xff;
  let mask = 0;
  let at = HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const d = wrappedDelta(values[i], patternValue(pattern, registers[i]));
    if (d === 0) continue;
    if (i < MASK_POSITIONS) mask |= 1 << i;
    if (d >= -127 && d <= 127) {
      out[at++] = 0x80 | (d & 0x7f) | (d < 0 ? 0x40 : 0);
    } else {
      out[at++] = 0x00;
      out[at++] = d & 0xff;
      out[at++] = (d >> 8) & 0xff;
    }
  }
  out[3] = mask & 0xff;
  out[4] = (mask >> 8) & 0xff;
  return out.slice(0, at);
}

/**
 * The deltas a one-byte entry can stand for on the device. Bytes 0x80–0xBF are unique (0..63);
 * 0xC0|L was written for L−64, L+64 or (L ≥ 1) L−128. The first entry is the 7-bit two's-complement
 * reading, the most likely one for sensor noise.
 */
export function oneByteDeltaCandidates(byte: number): number[] {
  const low = byte & 0x3f;
  if ((byte & 0x40) === 0) return [low];
  return low === 0 ? [low - 64, low + 64] : [low - 64, low + 64, low - 128];
}

export interface DictionaryAmbiguity {
  readonly position: number;
  readonly byte: number;
  /** Every value the byte allows, 7-bit reading first. */
  readonly candidates: readonly number[];
}

export type DictionaryDecodeResult =
  | ({ readonly ok: true } & Decoded & { readonly ambiguities: readonly DictionaryAmbiguity[] })
  | ({ readonly ok: false } & DecodeFailure);

function fail(code: DecodeFailure['code'], message: string): DictionaryDecodeResult {
  return { ok: false, code, message };
}

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * Decodes a `0xD0` packet with the device's table (by RegID). `registers` gives n and the pattern
 * column of each position. Ambiguous one-byte deltas are resolved against the same register in the
 * other samples (see {@link resolveAmbiguities}); every candidate stays available in `ambiguities`.
 */
export function decodeDictionary(
  bytes: Uint8Array,
  registers: readonly number[],
  patterns: readonly Pattern[] = DEVICE_PATTERNS,
): DictionaryDecodeResult {
  const n = registers.length;
  if (bytes.length < HEADER_BYTES)
    return fail('truncated', `dictionary header needs 5 bytes, got ${bytes.length}`);
  if (bytes[0] !== DICTIONARY_MARKER)
    return fail('unknown_marker', `dictionary marker expected, got ${hex(bytes[0])}`);
  if (bytes[2] !== n) return fail('bad_count', `dictionary packet holds ${bytes[2]} values, expected ${n}`);
  const mask = bytes[3] | (bytes[4] << 8);
  const flagged = Math.min(n, MASK_POSITIONS);
  if (mask >>> flagged !== 0)
    return fail('bad_value', `dictionary mask 0x${mask.toString(16)} flags positions ≥ ${n}`);

  // First pass: validate the entries and count them (the first `maskCount` go to flagged positions).
  let entryCount = 0;
  for (let at = HEADER_BYTES; at < bytes.length; entryCount++) {
    const b = bytes[at];
    if (b & 0x80) {
      at += 1;
    } else if (b === 0) {
      if (at + 3 > bytes.length) return fail('truncated', `dictionary escape at byte ${at} is cut short`);
      at += 3;
    } else {
      return fail('bad_value', `dictionary byte ${hex(b)} at ${at} is neither a delta nor an escape`);
    }
  }
  let maskCount = 0;
  for (let i = 0; i < flagged; i++) if (mask & (1 << i)) maskCount++;
  if (entryCount < maskCount) {
    return fail('truncated', `dictionary mask flags ${maskCount} deltas, only ${entryCount} present`);
  }
  const leftover = entryCount - maskCount;
  const unflagged = n - flagged;
  if (leftover > unflagged) {
    return fail(
      'trailing_bytes',
      `${leftover} dictionary deltas left over for ${unflagged} unflagged positions`,
    );
  }

  const values: (number | null)[] = new Array(n).fill(null);
  const quality: Quality[] = new Array(n).fill('missing');
  const notes: string[] = [];
  const ambiguities: DictionaryAmbiguity[] = [];
  const index = bytes[1];
  if (index >= patterns.length) {
    notes.push(`learned dictionary entry ${index}: contents only known to the device`);
    return { ok: true, method: 'dictionary', values, quality, notes, ambiguities };
  }
  const pattern = patterns[index];
  // Positions ≥ 16 are placeable only if none or all of them carried a delta.
  const placeLate = leftover === 0 || leftover === unflagged;
  let at = HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const base = patternValue(pattern, registers[i]);
    const hasDelta = i < flagged ? (mask & (1 << i)) !== 0 : leftover !== 0;
    if (i >= flagged && !placeLate) continue;
    quality[i] = 'exact';
    if (!hasDelta) {
      values[i] = base;
      continue;
    }
    const b = bytes[at];
    if (b === 0) {
      values[i] = (base + (bytes[at + 1] | (bytes[at + 2] << 8))) & 0xffff;
      at += 3;
      continue;
    }
    at += 1;
    // 0x80–0xBF: 0..63, unique. 0xC0–0xFF: three (or two) deltas, 7-bit reading first.
    values[i] = (base + (b & 0x40 ? (b & 0x3f) - 64 : b & 0x3f)) & 0xffff;
    if ((b & 0x40) === 0) continue;
    quality[i] = 'ambiguous';
    const deltas = oneByteDeltaCandidates(b);
    for (let k = 0; k < deltas.length; k++) deltas[k] = (base + deltas[k]) & 0xffff;
    ambiguities.push({ position: i, byte: b, candidates: deltas });
  }
  if (unflagged > 0) {
    notes.push(
      placeLate
        ? `count>${MASK_POSITIONS}: positions ${MASK_POSITIONS}..${n - 1} placed because ${leftover === 0 ? 'no' : 'every'} one of them had a delta`
        : `count>${MASK_POSITIONS}: ${leftover} deltas for ${unflagged} unflagged positions cannot be placed; positions ${MASK_POSITIONS}..${n - 1} missing`,
    );
  }
  if (ambiguities.length > 0) resolveAmbiguities(values, quality, registers, ambiguities, notes);
  return { ok: true, method: 'dictionary', values, quality, notes, ambiguities };
}

/**
 * Picks, for each ambiguous position, the candidate closest to the nearest exact value of the same
 * register before and after it (the neighbouring samples of a batch). Ties and positions without an
 * exact neighbour keep the 7-bit reading. Quality stays `ambiguous`: this is a choice, not a fact.
 */
export function resolveAmbiguities(
  values: (number | null)[],
  quality: readonly Quality[],
  registers: readonly number[],
  ambiguities: readonly DictionaryAmbiguity[],
  notes?: string[],
): void {
  for (const a of ambiguities) {
    const i = a.position;
    const before = nearestExact(values, quality, registers, i, -1);
    const after = nearestExact(values, quality, registers, i, 1);
    let pick = 0;
    if (before !== null || after !== null) {
      let bestScore = Number.POSITIVE_INFINITY;
      for (let c = 0; c < a.candidates.length; c++) {
        const v = a.candidates[c];
        const score =
          (before === null ? 0 : Math.abs(v - before)) + (after === null ? 0 : Math.abs(v - after));
        if (score < bestScore) {
          bestScore = score;
          pick = c;
        }
      }
    }
    values[i] = a.candidates[pick];
  }
  // Positions only: the candidates follow from the stored packet bytes (`ecowatt decode` lists
  // them), and a note per field packet is written with every upload, so it stays short.
  if (notes && ambiguities.length > 0) {
    notes.push(
      `ambiguous one-byte deltas at positions ${ambiguities.map((a) => a.position).join(',')}: candidate nearest the exact neighbours chosen`,
    );
  }
}

function nearestExact(
  values: readonly (number | null)[],
  quality: readonly Quality[],
  registers: readonly number[],
  from: number,
  step: 1 | -1,
): number | null {
  const register = registers[from];
  for (let j = from + step; j >= 0 && j < registers.length; j += step) {
    if (registers[j] === register && quality[j] === 'exact') return values[j];
  }
  return null;
}
