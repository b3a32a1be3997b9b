/**
 * Shared result types for every codec. Decoders never throw on bad input: they return a typed
 * error, and they never invent a number for a value they cannot know (it is `null` + `missing`).
 */

/** How much a decoded value can be trusted (PROTOCOL.md §10.5). */
export type Quality = 'exact' | 'approximate' | 'ambiguous' | 'missing';

/** Wire formats, named for what is on the wire (not for the device's label). */
export type CodecMethod =
  | 'dictionary'
  | 'temporal_base'
  | 'temporal_delta'
  | 'semantic_rle'
  | 'bitpacked'
  | 'bitpacked_headerless'
  | 'raw'
  | 'raw_headerless'
  | 'lossless_e1'
  | 'dictionary_float' // firmware 1.3: 0xD0 float32 dictionary + index bits
  | 'aggregation' // firmware 1.3: 0xAA min/max[/avg] summary, no per-sample values
  | 'empty';

export type DecodeErrorCode =
  | 'truncated' // fewer bytes than the header promises
  | 'trailing_bytes' // more bytes than the format can hold
  | 'bad_count' // the count in the stream disagrees with what the caller knows, or is impossible
  | 'unknown_marker' // first byte names no format and no header-less reading fits
  | 'bad_width' // bit width outside 1..16
  | 'bad_value' // a field holds an impossible value (unknown type id, position out of range …)
  | 'no_context' // 0x71 without a mirrored temporal context
  | 'empty'; // zero bytes where values were expected

export interface Decoded {
  readonly method: CodecMethod;
  /** One entry per position; `null` exactly where quality is `missing`. */
  readonly values: (number | null)[];
  readonly quality: Quality[];
  /** Human-readable remarks (ambiguities resolved, widths guessed …). */
  readonly notes: string[];
}

export interface DecodeFailure {
  readonly code: DecodeErrorCode;
  readonly message: string;
}

export type DecodeFailed = { readonly ok: false } & DecodeFailure;

export type DecodeResult = ({ readonly ok: true } & Decoded) | DecodeFailed;

export function decodeFailure(code: DecodeErrorCode, message: string): DecodeFailed {
  return { ok: false, code, message };
}
