/** Typed access to the field-firmware compression vectors (test/fixtures/compression.json). */
import { readFileSync } from 'node:fs';

export interface SequenceState {
  readonly sequence: string;
  readonly step: number;
  readonly of: number;
}

export interface CompressionVector {
  readonly id: string;
  readonly method: string;
  readonly api: string;
  readonly state: 'fresh' | SequenceState;
  readonly registers: number[];
  readonly input_values: number[];
  readonly output_hex: string;
  readonly device_compressed_binary: string;
  readonly output_len: number;
  readonly device_label: string | null;
  readonly faithful_decode: number[] | null;
  readonly lossless: boolean | null;
  readonly decode_notes: string[];
}

export const VECTORS: readonly CompressionVector[] = JSON.parse(
  readFileSync(new URL('../../../fixtures/compression.json', import.meta.url), 'utf8'),
);

export const API = {
  smart: 'DataCompression::compressWithSmartSelection',
  batch: 'compressBatchWithSmartSelection (main.cpp)',
  dictionary: 'DataCompression::compressWithDictionary (after initializeSensorDictionary)',
  temporal: 'DataCompression::compressWithTemporalDelta',
  semantic: 'DataCompression::compressWithSemanticRLE',
} as const;

export function bytesOf(v: CompressionVector): Uint8Array {
  return Uint8Array.from(Buffer.from(v.output_hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function sequenceOf(v: CompressionVector): string | undefined {
  return typeof v.state === 'object' ? v.state.sequence : undefined;
}

/** Sequences in step order, each a list of its vectors. */
export function sequences(): Map<string, CompressionVector[]> {
  const out = new Map<string, CompressionVector[]>();
  for (const v of VECTORS) {
    const s = sequenceOf(v);
    if (s === undefined) continue;
    const list = out.get(s) ?? [];
    list.push(v);
    out.set(s, list);
  }
  for (const list of out.values()) {
    list.sort((a, b) => (a.state as SequenceState).step - (b.state as SequenceState).step);
  }
  return out;
}

/** Number of one-byte dictionary deltas the vector's notes flag as ambiguous. */
export function ambiguousByteNotes(v: CompressionVector): number {
  return v.decode_notes.filter((n) => /^byte 0x[0-9a-f]{2}: also encodes/.test(n)).length;
}
