/**
 * One device's `DataCompression` object (PROTOCOL.md §3.1–§3.2): the dictionary it learns and the
 * temporal context it advances on every smart call. Used by the simulator and to check the codecs
 * against the field vectors; its outputs are byte-identical to the e84f720 firmware's.
 */
import { BATCH_LAYOUT } from '../registers.js';
import { compressBinary } from './bitpack.js';
import { DEVICE_PATTERNS, encodeDictionary, findClosestPattern, type Pattern } from './dictionary.js';
import { encodeSemantic } from './semantic.js';
import { encodeTemporal, TemporalContext } from './temporal.js';

export type MethodLabel = 'DICTIONARY' | 'TEMPORAL' | 'SEMANTIC' | 'BITPACK';
export type BatchMethodLabel = `BATCH_${MethodLabel}`;

/** The firmware derives the label from the first byte only (main.cpp:845-867). */
export function methodLabelForFirstByte(byte: number | undefined): MethodLabel {
  switch (byte) {
    case 0xd0:
      return 'DICTIONARY';
    case 0x70:
    case 0x71:
      return 'TEMPORAL';
    case 0x50:
      return 'SEMANTIC';
    default:
      return 'BITPACK';
  }
}

/** `updateDictionary` stops learning once 15 patterns exist. */
export const DICTIONARY_LEARN_LIMIT = 15;
/** RegIDs 0..9 have a column in every pattern; learned patterns start from zeros. */
const PATTERN_COLUMNS = 10;

export class DeviceCompressor {
  readonly #patterns: Pattern[] = [...DEVICE_PATTERNS];
  readonly temporal: TemporalContext;

  constructor(temporal: TemporalContext = new TemporalContext()) {
    this.temporal = temporal;
  }

  /** The dictionary as the device holds it (built-ins first, then learned patterns). */
  get patterns(): readonly Pattern[] {
    return this.#patterns;
  }

  compressWithDictionary(values: readonly number[], registers: readonly number[]): Uint8Array {
    return encodeDictionary(values, registers, this.#patterns);
  }

  /** Advances the temporal context, exactly as the device does on every call. */
  compressWithTemporalDelta(values: readonly number[], registers: readonly number[]): Uint8Array {
    return encodeTemporal(values, registers, this.temporal);
  }

  compressWithSemanticRLE(values: readonly number[], registers: readonly number[]): Uint8Array {
    return encodeSemantic(values, registers);
  }

  /**
   * `compressWithSmartSelection`: all four encoders in device order (so TEMPORAL always advances
   * its state), the strictly smallest float score wins (ties keep the earlier), then learning.
   */
  compressWithSmartSelection(
    values: readonly number[],
    registers: readonly number[],
  ): { bytes: Uint8Array; label: MethodLabel } {
    const n = values.length;
    // The device rejects an empty input before touching any state.
    if (n === 0) return { bytes: new Uint8Array(0), label: 'BITPACK' };
    const outputs = [
      this.compressWithDictionary(values, registers),
      this.compressWithTemporalDelta(values, registers),
      this.compressWithSemanticRLE(values, registers),
      compressBinary(values),
    ];
    let best = outputs[0];
    let bestScore = score(best, n);
    for (let i = 1; i < outputs.length; i++) {
      const s = score(outputs[i], n);
      if (s < bestScore && s > 0) {
        best = outputs[i];
        bestScore = s;
      }
    }
    this.#learn(values, registers);
    return { bytes: best, label: methodLabelForFirstByte(best[0]) };
  }

  /**
   * main.cpp `compressBatchWithSmartSelection`: the same smart selection over 30 values with the
   * fixed layout [0,1,5,9,6,7]×5 — so learning happens on the batch path too, and TEMPORAL runs
   * (and always emits its 92-byte base form, which never wins).
   */
  compressBatch(values30: readonly number[]): { bytes: Uint8Array; label: BatchMethodLabel } {
    const registers = batchSelection(values30.length);
    const { bytes, label } = this.compressWithSmartSelection(values30, registers);
    return { bytes, label: `BATCH_${label}` };
  }

  /** `updateDictionary`: a new pattern only when none is within the match limit and room is left. */
  #learn(values: readonly number[], registers: readonly number[]): void {
    if (this.#patterns.length >= DICTIONARY_LEARN_LIMIT) return;
    if (findClosestPattern(values, registers, this.#patterns) >= 0) return;
    const pattern = new Array<number>(PATTERN_COLUMNS).fill(0);
    // Later duplicates of a RegID overwrite earlier ones: a batch leaves its last sample.
    for (let i = 0; i < values.length; i++) pattern[registers[i]] = values[i] & 0xffff;
    this.#patterns.push(pattern);
  }
}

/** Score as the firmware computes it: float (bytes·8)/(n·16), 1.0 for an empty output. */
function score(bytes: Uint8Array, n: number): number {
  return bytes.length === 0 ? 1 : Math.fround(Math.fround(bytes.length * 8) / Math.fround(n * 16));
}

/** The fixed layout [0,1,5,9,6,7] repeated, whatever the configured registers are (§3.2). */
function batchSelection(count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = BATCH_LAYOUT[i % BATCH_LAYOUT.length];
  return out;
}
