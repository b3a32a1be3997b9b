/**
 * The firmware 1.3 batch compressor, DataCompression::compressWithSmartSelection
 * (compression.cpp:59-111), for device simulators: byte for byte what the device uploads.
 */
import { encodeBitpack13 } from './bitpack.js';
import { encodeDictionaryD0 } from './dictionary-d0.js';
import { encodeSemantic13 } from './semantic.js';
import { encodeTemporal13, type Temporal13State } from './temporal.js';
import { assertBatch } from './values.js';

/** testCompressionMethod's academicRatio: float bits ratio, 1.0 for an empty result. */
function academicRatio(length: number, count: number): number {
  if (length === 0) return 1;
  return Math.fround(Math.fround(length * 8) / Math.fround(count * 16));
}

/**
 * Runs DICTIONARY, TEMPORAL, SEMANTIC and BITPACK in that order and keeps the first smallest
 * (a later one must be strictly smaller). TEMPORAL always advances `state`, chosen or not, which
 * is why a decoder has to follow every packet. Empty input returns an empty result and leaves
 * `state` alone, as the firmware does. Throws on input the firmware cannot be given.
 */
export function compressSmart13(
  registers: readonly number[],
  values: readonly number[],
  state: Temporal13State,
): Uint8Array {
  assertBatch(registers, values);
  const n = values.length;
  if (n === 0) return new Uint8Array(0);
  const results = [
    encodeDictionaryD0(values),
    encodeTemporal13(values, registers, state),
    encodeSemantic13(values, registers),
    encodeBitpack13(values),
  ];
  let best = results[0];
  let bestRatio = academicRatio(best.length, n);
  for (const r of results) {
    const ratio = academicRatio(r.length, n);
    if (ratio < bestRatio && ratio > 0) {
      best = r;
      bestRatio = ratio;
    }
  }
  return best;
}
