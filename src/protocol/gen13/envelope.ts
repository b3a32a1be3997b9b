/**
 * The firmware 1.3 upload envelope (security.cpp:53-187, PROTOCOL-1.3.md §2): the v1 HMAC scheme
 * with a fifth key, in this order:
 *
 *   {"nonce":N,"payload":"<base64 plaintext>","mac":"<hex>","encrypted":false,"compressed":false}
 *
 * mac = HMAC-SHA256(PSK, u32be(nonce) || plaintext). No AES path exists at 1.3, and the only
 * caller passes compressed = false, so either flag set to true is not a 1.3 envelope.
 */
import {
  isJsonObject,
  isU32,
  openV1,
  type ParseResult,
  parseV1Envelope,
  sealV1,
  type V1Envelope,
  type V1OpenResult,
} from '../envelope-v1.js';

/** A parsed 1.3 envelope: v1 fields with both flags false. */
export interface Envelope13 extends V1Envelope {
  readonly encrypted: false;
}

/** NVS default when the key is absent (security.cpp:53). */
const NVS_DEFAULT_NONCE = 10000;
/** SecurityLayer::init raises a lower stored nonce to this (security.cpp:56). */
export const NONCE13_BOOT_FLOOR = 11000;

/**
 * The exact JSON text the firmware POSTs: the e84f720 v1 text with the fifth key appended (same
 * key order, MAC and base64). Throws on a nonce outside u32 (programmer error).
 */
export function seal13(plaintext: Buffer | string, nonce: number, psk: Uint8Array): string {
  const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const v1 = sealV1(bytes, { nonce, keys: { hmacKey: psk } });
  return `${v1.slice(0, -1)},"compressed":false}`;
}

/** The counter after SecurityLayer::init: the stored value (null = key absent), floored at boot. */
export function bootNonce13(stored: number | null): number {
  const loaded = stored ?? NVS_DEFAULT_NONCE;
  return Math.max(loaded, NONCE13_BOOT_FLOOR);
}

/**
 * The nonce of the next envelope. `stored` is the counter as it stands (the last nonce used, or
 * bootNonce13(nvs) right after a boot); null means nothing stored on a freshly booted device, so
 * the floor applies: 11001. The counter is a uint32: 2^32 − 1 is followed by 0, and the floor is
 * not applied again until the next boot.
 */
export function nextNonce13(stored: number | null): number {
  const current = stored === null ? bootNonce13(null) : stored;
  if (!isU32(current)) throw new RangeError(`nonce must be an integer 0..4294967295, got ${current}`);
  return (current + 1) % 2 ** 32;
}

/**
 * Shape check. parseV1Envelope already ignores the extra key, so this adds what 1.3 guarantees:
 * `compressed`, when present, is false (true would announce a payload format no 1.3 firmware
 * writes) and `encrypted` is false. A body without `compressed` is accepted: it is the same
 * scheme, as e84f720 sends it.
 */
export function parse13Envelope(body: unknown): ParseResult<Envelope13> {
  if (isJsonObject(body) && Object.hasOwn(body, 'compressed')) {
    if (typeof body.compressed !== 'boolean') {
      return { ok: false, code: 'malformed_envelope', message: 'compressed must be a boolean' };
    }
    if (body.compressed) {
      return {
        ok: false,
        code: 'malformed_envelope',
        message: 'compressed:true is not produced by firmware 1.3',
      };
    }
  }
  const parsed = parseV1Envelope(body);
  if (!parsed.ok) return parsed;
  if (parsed.envelope.encrypted) {
    return {
      ok: false,
      code: 'malformed_envelope',
      message: 'encrypted:true is not produced by firmware 1.3',
    };
  }
  return { ok: true, envelope: { ...parsed.envelope, encrypted: false } };
}

/**
 * Verifies the MAC (constant-time, via openV1) with each PSK in turn. Never throws; every failure
 * is `authentication_failed` with a reason for logs.
 */
export function open13(envelope: Envelope13, psk: Uint8Array | readonly Uint8Array[]): V1OpenResult {
  const keys = psk instanceof Uint8Array ? [psk] : psk;
  return openV1(
    { ...envelope, encrypted: false },
    keys.map((hmacKey) => ({ hmacKey })),
  );
}
