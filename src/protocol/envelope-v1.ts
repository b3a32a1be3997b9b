/**
 * Protocol v1 security envelope, as the field firmware (e84f720) builds it (PROTOCOL.md §2) and as
 * EcoWatt Cloud verifies it (§10.2 steps 5–6). Pure: no I/O, no settings, no logging.
 *
 * v1 is MAC-then-encrypt with a static IV; the MAC covers `u32be(nonce) || plaintext` only.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64Strict, encodeBase64 } from './base64.js';

/** The keys every field device ships with (§2.5); also the reference servers' defaults. */
export const FIELD_KEYS: Readonly<{ hmacKey: Buffer; aesKey: Buffer; iv: Buffer }> = Object.freeze({
  hmacKey: Buffer.from('2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe', 'hex'),
  aesKey: Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex'),
  iv: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
});

/** One v1 key set. `aesKey`/`iv` are only needed for `encrypted: true` envelopes. */
export interface V1Keys {
  hmacKey: Uint8Array;
  aesKey?: Uint8Array;
  iv?: Uint8Array;
}

export type EnvelopeCode = 'malformed_envelope' | 'missing_security_fields' | 'authentication_failed';

/** Why opening failed. For logs and security events only: clients see `authentication_failed`. */
export type OpenFailureReason =
  | 'bad_base64'
  | 'bad_mac_format'
  | 'decrypt_failed'
  | 'mac_mismatch'
  | 'no_key';

export interface V1Envelope {
  nonce: number;
  payload: string;
  mac: string;
  encrypted: boolean;
  /** Optional top-level `device_id` (ignored by the field server; selects a per-device key here). */
  deviceId?: string;
}

export type ParseResult<E> = { ok: true; envelope: E } | { ok: false; code: EnvelopeCode; message: string };

export type V1OpenResult =
  | { ok: true; nonce: number; plaintext: Buffer; keyIndex: number }
  | { ok: false; code: 'authentication_failed'; reason: OpenFailureReason };

const U32_MAX = 0xffff_ffff;
const AES_BLOCK = 16;
const MAC_HEX = /^[0-9a-fA-F]{64}$/;

// HMAC.update copies its input synchronously, so one scratch buffer serves every call; whoever
// writes it uses it before returning (everything here is synchronous).
const nonceScratch = Buffer.alloc(4);

export function isJsonObject(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

/** §10.2.1: any of nonce/payload/mac makes the body an envelope attempt (never a bare payload). */
export function isEnvelopeAttempt(body: unknown): boolean {
  return (
    isJsonObject(body) &&
    (Object.hasOwn(body, 'nonce') || Object.hasOwn(body, 'payload') || Object.hasOwn(body, 'mac'))
  );
}

/** 64 hex digits in either case → 32 bytes; anything else → undefined. */
export function parseMacHex(mac: unknown): Buffer | undefined {
  if (typeof mac !== 'string' || !MAC_HEX.test(mac)) return undefined;
  return Buffer.from(mac, 'hex');
}

export function isU32(n: unknown): n is number {
  // -0 is excluded: its JSON text carries a sign, and no device emits it.
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32_MAX && !Object.is(n, -0);
}

const MISSING: ParseResult<never> = {
  ok: false,
  code: 'missing_security_fields',
  message: 'envelope must carry nonce, payload and mac',
};

function malformed(message: string): ParseResult<never> {
  return { ok: false, code: 'malformed_envelope', message };
}

/**
 * Shape check only (§10.2 steps 1–2). The mac's format is deliberately not checked here: a wrong
 * mac is an authentication failure (401), not a malformed request (400).
 */
export function parseV1Envelope(body: unknown): ParseResult<V1Envelope> {
  if (!isJsonObject(body)) return malformed('envelope must be a JSON object');
  if (!Object.hasOwn(body, 'nonce') || !Object.hasOwn(body, 'payload') || !Object.hasOwn(body, 'mac')) {
    return MISSING;
  }
  const { nonce, payload, mac, encrypted, device_id: deviceId } = body;
  if (!isU32(nonce)) return malformed('nonce must be an integer 0..4294967295');
  if (typeof payload !== 'string') return malformed('payload must be a string');
  if (typeof mac !== 'string') return malformed('mac must be a string');
  const hasEncrypted = Object.hasOwn(body, 'encrypted');
  if (hasEncrypted && typeof encrypted !== 'boolean') return malformed('encrypted must be a boolean');
  const envelope: V1Envelope = { nonce, payload, mac, encrypted: encrypted === true };
  if (Object.hasOwn(body, 'device_id')) {
    if (typeof deviceId !== 'string' || deviceId.length === 0) {
      return malformed('device_id must be a non-empty string');
    }
    envelope.deviceId = deviceId;
  }
  return { ok: true, envelope };
}

function macV1(hmacKey: Uint8Array, nonceBytes: Buffer, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', hmacKey).update(nonceBytes).update(plaintext).digest();
}

/**
 * Seals like the device: MAC over the plaintext, then (optionally) AES-128-CBC with the device's
 * padding quirk (§2.4: no padding block when len % 16 == 0, empty ciphertext for len 0).
 * Returns the exact JSON text the device POSTs. Throws on programmer errors (bad nonce, keys).
 */
export function sealV1(
  plaintext: Uint8Array,
  opts: { nonce: number; keys: V1Keys; encrypt?: boolean },
): string {
  const { nonce, keys } = opts;
  const encrypt = opts.encrypt === true;
  if (!isU32(nonce)) throw new RangeError(`nonce must be an integer 0..${U32_MAX}, got ${nonce}`);
  nonceScratch.writeUInt32BE(nonce, 0);
  const mac = macV1(keys.hmacKey, nonceScratch, plaintext).toString('hex');
  let body: Uint8Array = plaintext;
  if (encrypt) {
    if (!keys.aesKey || !keys.iv) throw new TypeError('encrypting needs aesKey and iv');
    body = encryptDeviceStyle(plaintext, keys.aesKey, keys.iv);
  }
  return `{"nonce":${nonce},"payload":"${encodeBase64(body)}","mac":"${mac}","encrypted":${encrypt}}`;
}

function encryptDeviceStyle(plaintext: Uint8Array, aesKey: Uint8Array, iv: Uint8Array): Buffer {
  const paddedLen = Math.ceil(plaintext.length / AES_BLOCK) * AES_BLOCK;
  if (paddedLen === 0) return Buffer.alloc(0);
  const padded = Buffer.alloc(paddedLen, paddedLen - plaintext.length);
  padded.set(plaintext);
  const cipher = createCipheriv('aes-128-cbc', aesKey, iv).setAutoPadding(false);
  const head = cipher.update(padded);
  const tail = cipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/**
 * Length of a well-formed PKCS#7 pad at the end of `data` (a non-empty multiple of 16), else 0.
 * Looks at all 16 trailing bytes without early exit, so the time does not depend on where the
 * padding is wrong.
 */
function pkcs7PadLength(data: Buffer): number {
  const n = data.length;
  const pad = data[n - 1];
  // bad becomes non-zero for pad == 0 or pad > 16 (sign bits of pad-1 and 16-pad).
  let bad = ((pad - 1) | (AES_BLOCK - pad)) >>> 31;
  for (let i = 1; i <= AES_BLOCK; i++) {
    const inPad = (i - pad - 1) >> 31; // all ones when i <= pad
    bad |= inPad & (data[n - i] ^ pad);
  }
  return bad === 0 ? pad : 0;
}

const FAIL = (reason: OpenFailureReason): V1OpenResult => ({
  ok: false,
  code: 'authentication_failed',
  reason,
});

/**
 * Verifies (and decrypts) a parsed envelope with each key in turn (§10.2 steps 5–6). Never throws;
 * whatever fails, the client-facing code is `authentication_failed`.
 */
export function openV1(envelope: V1Envelope, keys: readonly V1Keys[]): V1OpenResult {
  try {
    return openV1Unsafe(envelope, keys);
  } catch {
    // Only reachable with misconfigured keys (e.g. a 15-byte AES key); no key authenticated it.
    return FAIL('no_key');
  }
}

function openV1Unsafe(envelope: V1Envelope, keys: readonly V1Keys[]): V1OpenResult {
  const { nonce, payload, encrypted } = envelope;
  const expected = parseMacHex(envelope.mac);
  if (!expected) return FAIL('bad_mac_format');
  const decoded = typeof payload === 'string' ? decodeBase64Strict(payload) : undefined;
  if (!decoded) return FAIL('bad_base64');
  // A nonce that has no u32 form cannot have been signed by any device.
  if (!isU32(nonce)) return FAIL('mac_mismatch');
  if (keys.length === 0) return FAIL('no_key');
  nonceScratch.writeUInt32BE(nonce, 0);
  const sent = Buffer.from(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  if (encrypted === true && sent.length % AES_BLOCK !== 0) return FAIL('decrypt_failed');
  let tried = false;
  for (let keyIndex = 0; keyIndex < keys.length; keyIndex++) {
    const key = keys[keyIndex];
    let plaintext: Buffer | undefined;
    if (encrypted === true) {
      if (!key.aesKey || !key.iv) continue;
      tried = true;
      plaintext = verifyDecrypted(sent, nonceScratch, expected, key.hmacKey, key.aesKey, key.iv);
    } else {
      tried = true;
      if (timingSafeEqual(macV1(key.hmacKey, nonceScratch, sent), expected)) plaintext = sent;
    }
    if (plaintext) return { ok: true, nonce, plaintext, keyIndex };
  }
  return FAIL(tried ? 'mac_mismatch' : 'no_key');
}

/**
 * Decrypts and lets the MAC choose between the PKCS#7-stripped and the unstripped reading (the
 * device sends no padding block when len % 16 == 0). Both MACs are always computed, so timing does
 * not tell whether the padding was well-formed (no padding oracle).
 */
function verifyDecrypted(
  sent: Buffer,
  nonceBytes: Buffer,
  expected: Buffer,
  hmacKey: Uint8Array,
  aesKey: Uint8Array,
  iv: Uint8Array,
): Buffer | undefined {
  if (sent.length === 0) {
    return timingSafeEqual(macV1(hmacKey, nonceBytes, sent), expected) ? sent : undefined;
  }
  const decipher = createDecipheriv('aes-128-cbc', aesKey, iv);
  decipher.setAutoPadding(false);
  const head = decipher.update(sent);
  const tail = decipher.final();
  const full = tail.length === 0 ? head : Buffer.concat([head, tail]);
  const stripped = full.subarray(0, full.length - pkcs7PadLength(full));
  const strippedOk = timingSafeEqual(macV1(hmacKey, nonceBytes, stripped), expected);
  const fullOk = timingSafeEqual(macV1(hmacKey, nonceBytes, full), expected);
  if (strippedOk) return stripped;
  return fullOk ? full : undefined;
}
