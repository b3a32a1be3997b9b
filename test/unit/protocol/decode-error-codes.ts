/**
 * Every code a decoder may fail with, for the fuzz tests that check a failure is typed. Keyed by
 * the type, so a code added to `DecodeErrorCode` cannot be missing here.
 */
import type { DecodeErrorCode } from '../../../src/protocol/codecs/types.js';

const CODES = {
  truncated: true,
  trailing_bytes: true,
  bad_count: true,
  unknown_marker: true,
  bad_width: true,
  bad_value: true,
  no_context: true,
  empty: true,
} satisfies Record<DecodeErrorCode, true>;

export const DECODE_ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(CODES));
