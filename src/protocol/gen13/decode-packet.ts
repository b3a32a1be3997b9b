/**
 * The server's packet decoder for firmware 1.3 (PROTOCOL-1.3.md §4): dispatch on the first byte,
 * n from the caller (register_count × sample_count: the u8 header wraps above 255 and is only
 * checked mod 256), never a value more certain than the bytes allow. Firmware 1.3 has no header-
 * less formats, so there is no fallback reading: an unknown first byte is an error.
 */
import type { Decoded, DecodeResult, Quality } from '../codecs/types.js';
import { decodeFailure } from '../codecs/types.js';
import { AGGREGATION13_MARKER, type Aggregation13Summary, decodeAggregation13 } from './aggregation.js';
import { BITPACK13_MARKER, decodeBitpack13 } from './bitpack.js';
import { DICTIONARY_D0_MARKER, decodeDictionaryD0 } from './dictionary-d0.js';
import { decodeSemantic13, SEMANTIC13_MARKER } from './semantic.js';
import { decodeTemporal13, TEMPORAL13_BASE, TEMPORAL13_DELTA, type Temporal13Context } from './temporal.js';
import { hex2 } from './values.js';

export interface DecodePacket13Options {
  /** RegID of every value, sample-major (register_layout repeated sample_count times); gives n. */
  readonly registers: readonly number[];
  /**
   * The device's mirrored temporal context. Needed for `0x71`. Every packet except `0xAA`
   * advances it, decodable or not, because the firmware's TEMPORAL encoder runs on every batch.
   */
  readonly context?: Temporal13Context;
}

/** A decode result; `0xAA` packets also carry their summary (their per-sample values are missing). */
export type Packet13Result =
  | ({ readonly ok: true } & Decoded & { readonly summary?: Aggregation13Summary })
  | Exclude<DecodeResult, { ok: true }>;

/** `decompression_metadata.method` the firmware writes for these bytes (task_manager.cpp:862-868). */
export type Method13Label = 'dictionary' | 'temporal' | 'semantic' | 'bitpack' | 'raw';

export function labelForBytes13(bytes: Uint8Array): Method13Label {
  if (bytes.length === 0) return 'raw';
  switch (bytes[0]) {
    case DICTIONARY_D0_MARKER:
      return 'dictionary';
    case TEMPORAL13_BASE:
    case TEMPORAL13_DELTA:
      return 'temporal';
    case SEMANTIC13_MARKER:
      return 'semantic';
    default:
      return 'bitpack';
  }
}

export function decodePacket13(bytes: Uint8Array, opts: DecodePacket13Options): Packet13Result {
  const { registers, context } = opts;
  const n = registers.length;
  if (bytes.length > 0 && bytes[0] === AGGREGATION13_MARKER) return decodeAggregationPacket(bytes, registers);
  if (context && n > 0 && bytes.length > 0) {
    // Evidence that the mirror has lost step (a missed packet or reboot): start over from here.
    const possible = context.deltaPossible(registers);
    if (
      (bytes[0] === TEMPORAL13_DELTA && possible === 'no') ||
      (bytes[0] === TEMPORAL13_BASE && possible === 'yes')
    ) {
      context.forget();
    }
  }
  const result = decodeByMarker(bytes, registers, context);
  if (context) {
    const exact = result.ok ? result.values.map((v, i) => (result.quality[i] === 'exact' ? v : null)) : null;
    const sawDelta = bytes.length > 0 && bytes[0] === TEMPORAL13_DELTA && n <= 10;
    context.observe(registers, exact, sawDelta);
  }
  return result;
}

function decodeByMarker(
  bytes: Uint8Array,
  registers: readonly number[],
  context: Temporal13Context | undefined,
): DecodeResult {
  const n = registers.length;
  if (bytes.length === 0) {
    return n === 0
      ? { ok: true, method: 'empty', values: [], quality: [], notes: [] }
      : decodeFailure('empty', `no bytes for ${n} values`);
  }
  switch (bytes[0]) {
    case DICTIONARY_D0_MARKER:
      return decodeDictionaryD0(bytes, n);
    case TEMPORAL13_BASE:
    case TEMPORAL13_DELTA:
      return decodeTemporal13(bytes, registers, context);
    case SEMANTIC13_MARKER:
      return decodeSemantic13(bytes, registers);
    case BITPACK13_MARKER:
      return decodeBitpack13(bytes, n);
    default:
      return decodeFailure('unknown_marker', `first byte 0x${hex2(bytes[0])} names no firmware 1.3 format`);
  }
}

function decodeAggregationPacket(bytes: Uint8Array, registers: readonly number[]): Packet13Result {
  const r = decodeAggregation13(bytes);
  if (!r.ok) return r;
  const s = r.summary;
  const n = registers.length;
  // The summary names its own shape; it must be the shape the metadata announced.
  const samples = s.registerCount > 0 && n % s.registerCount === 0 ? n / s.registerCount : -1;
  if (samples < 0 || (samples & 0xff) !== s.sampleCount) {
    return decodeFailure(
      'bad_count',
      `aggregation: ${s.sampleCount} samples × ${s.registerCount} registers, the packet has ${n} values`,
    );
  }
  for (let i = 0; i < s.registerCount; i++) {
    if ((registers[i] & 0xff) !== s.registers[i]) {
      return decodeFailure(
        'bad_value',
        `aggregation: RegID ${s.registers[i]} at ${i}, the packet says ${registers[i]}`,
      );
    }
  }
  return {
    ok: true,
    method: 'aggregation',
    values: new Array<number | null>(n).fill(null),
    quality: new Array<Quality>(n).fill('missing'),
    notes: ['aggregation summary only (min/max[/avg] per register): per-sample values are not in the packet'],
    summary: s,
  };
}
