/**
 * Protocol v2 envelope for new firmware (PROTOCOL.md §11.1): per-device keys named by `kid`,
 * random IV, encrypt-then-MAC over everything that is sent. Pure: no I/O, no settings, no logging.
 *
 * "payload bytes as sent" in the MAC input is read as the bytes the `payload` field carries after
 * base64 decoding (the ciphertext when encrypted), just as the IV enters as its 16 raw bytes.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { isJsonObject, type OpenFailureReason, type ParseResult, parseMacHex } from './envelope-v1.js';

export interface V2DerivedKeys {
  macKey: Buffer;
  encKey: Buffer;
}

export interface V2Envelope {
  v: 2;
  deviceId: string;
  kid: string;
  nonce: number;
  /** Base64 of 16 bytes; present exactly when the payload is encrypted. */
  iv?: string;
  payload: string;
  mac: string;
}

/** A device key. `derived` lets a caller derive once at start-up instead of on every message. */
export interface V2Key {
  kid: string;
  key: Uint8Array;
  derived?: V2DerivedKeys;
}

export type V2OpenResult =
  | { ok: true; nonce: number; plaintext: Buffer; kid: string }
  | { ok: false; code: 'authentication_failed'; reason: OpenFailureReason };

const MAX_ID_BYTES = 255;
const IV_BYTES = 16;
const TWO_POW_32 = 2 ** 32;
const MAGIC = Buffer.from('EW2', 'latin1');
const MAC_LABEL = Buffer.from('ecowatt-v2 mac', 'latin1');
const ENC_LABEL = Buffer.from('ecowatt-v2 enc', 'latin1');
// With the u flag, paired surrogates form one code point, so this only finds lone ones.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function deriveV2Keys(k: Uint8Array): V2DerivedKeys {
  return {
    macKey: createHmac('sha256', k).update(MAC_LABEL).digest(),
    encKey: createHmac('sha256', k).update(ENC_LABEL).digest().subarray(0, 16),
  };
}

/** Adds `derived` to each key, for callers that hold their keys for many messages. */
export function withDerivedV2Keys(keys: readonly { kid: string; key: Uint8Array }[]): V2Key[] {
  return keys.map(({ kid, key }) => ({ kid, key, derived: deriveV2Keys(key) }));
}

export function isV2Envelope(body: unknown): boolean {
  return isJsonObject(body) && body.v === 2;
}

function isV2Nonce(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0);
}

/** An id fits the u8 length prefix and has one unambiguous UTF-8 form. */
function isV2Id(id: unknown): id is string {
  return (
    typeof id === 'string' &&
    id.length > 0 &&
    Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES &&
    !LONE_SURROGATE.test(id)
  );
}

/** `"EW2" || id || kid || u64be(nonce) || flags || iv`, or undefined when a field cannot be encoded. */
function macHeader(
  deviceId: string,
  kid: string,
  nonce: number,
  iv: Uint8Array | undefined,
): Buffer | undefined {
  if (!isV2Id(deviceId) || !isV2Id(kid) || !isV2Nonce(nonce)) return undefined;
  if (iv !== undefined && iv.length !== IV_BYTES) return undefined;
  const idLen = Buffer.byteLength(deviceId, 'utf8');
  const kidLen = Buffer.byteLength(kid, 'utf8');
  const header = Buffer.allocUnsafe(3 + 1 + idLen + 1 + kidLen + 8 + 1 + (iv ? IV_BYTES : 0));
  let at = MAGIC.copy(header, 0);
  at = header.writeUInt8(idLen, at);
  at += header.write(deviceId, at, 'utf8');
  at = header.writeUInt8(kidLen, at);
  at += header.write(kid, at, 'utf8');
  at = header.writeUInt32BE(Math.floor(nonce / TWO_POW_32), at);
  at = header.writeUInt32BE(nonce % TWO_POW_32, at);
  at = header.writeUInt8(iv ? 1 : 0, at);
  if (iv) header.set(iv, at);
  return header;
}

/** The exact bytes the v2 MAC covers. Throws RangeError when a field cannot be encoded. */
export function v2MacInput(fields: {
  deviceId: string;
  kid: string;
  nonce: number;
  iv?: Uint8Array;
  payload: Uint8Array;
}): Buffer {
  const header = macHeader(fields.deviceId, fields.kid, fields.nonce, fields.iv);
  if (!header) throw new RangeError('device_id/kid must be 1..255 UTF-8 bytes, nonce 0..2^53-1, iv 16 bytes');
  return Buffer.concat([header, fields.payload]);
}

function macV2(macKey: Uint8Array, header: Buffer, payload: Uint8Array): Buffer {
  // Fed in two parts so the (possibly large) payload is never copied into a joined buffer.
  return createHmac('sha256', macKey).update(header).update(payload).digest();
}

export function sealV2(
  plaintext: Uint8Array,
  opts: { deviceId: string; kid: string; nonce: number; key: Uint8Array; encrypt?: boolean; iv?: Uint8Array },
): string {
  const { deviceId, kid, nonce } = opts;
  const encrypt = opts.encrypt === true;
  if (opts.iv !== undefined && !encrypt) throw new TypeError('an iv only makes sense with encrypt: true');
  const iv = encrypt ? (opts.iv ?? randomBytes(IV_BYTES)) : undefined;
  const header = macHeader(deviceId, kid, nonce, iv);
  if (!header) throw new RangeError('device_id/kid must be 1..255 UTF-8 bytes, nonce 0..2^53-1, iv 16 bytes');
  const { macKey, encKey } = deriveV2Keys(opts.key);
  let body: Uint8Array = plaintext;
  if (iv) {
    const cipher = createCipheriv('aes-128-cbc', encKey, iv);
    body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  }
  const mac = macV2(macKey, header, body).toString('hex');
  const ivField = iv ? `"iv":"${encodeBase64(iv)}",` : '';
  return (
    `{"v":2,"device_id":${JSON.stringify(deviceId)},"kid":${JSON.stringify(kid)},"nonce":${nonce},` +
    `${ivField}"payload":"${encodeBase64(body)}","mac":"${mac}"}`
  );
}

function malformed(message: string): ParseResult<never> {
  return { ok: false, code: 'malformed_envelope', message };
}

/** Shape check only; as in v1, a badly formatted mac is left to `openV2` (authentication_failed). */
export function parseV2Envelope(body: unknown): ParseResult<V2Envelope> {
  if (!isJsonObject(body)) return malformed('envelope must be a JSON object');
  if (body.v !== 2) return malformed('v must be 2');
  if (!Object.hasOwn(body, 'nonce') || !Object.hasOwn(body, 'payload') || !Object.hasOwn(body, 'mac')) {
    return {
      ok: false,
      code: 'missing_security_fields',
      message: 'envelope must carry nonce, payload and mac',
    };
  }
  const { device_id: deviceId, kid, nonce, iv, payload, mac } = body;
  if (!isV2Id(deviceId)) return malformed('device_id must be a string of 1..255 UTF-8 bytes');
  if (!isV2Id(kid)) return malformed('kid must be a string of 1..255 UTF-8 bytes');
  if (!isV2Nonce(nonce)) return malformed('nonce must be an integer 0..2^53-1');
  if (typeof payload !== 'string') return malformed('payload must be a string');
  if (typeof mac !== 'string') return malformed('mac must be a string');
  const envelope: V2Envelope = { v: 2, deviceId, kid, nonce, payload, mac };
  if (Object.hasOwn(body, 'iv')) {
    if (typeof iv !== 'string' || decodeBase64Strict(iv)?.length !== IV_BYTES) {
      return malformed('iv must be base64 of 16 bytes');
    }
    envelope.iv = iv;
  }
  return { ok: true, envelope };
}

const FAIL = (reason: OpenFailureReason): V2OpenResult => ({
  ok: false,
  code: 'authentication_failed',
  reason,
});

/**
 * Selects the key by `kid`, verifies the MAC in constant time and only then decrypts (standard
 * PKCS#7). Never throws; every failure is `authentication_failed` to the client.
 */
export function openV2(envelope: V2Envelope, keys: readonly V2Key[]): V2OpenResult {
  try {
    return openV2Unsafe(envelope, keys);
  } catch {
    // Only reachable with misconfigured keys; nothing was authenticated.
    return FAIL('no_key');
  }
}

function openV2Unsafe(envelope: V2Envelope, keys: readonly V2Key[]): V2OpenResult {
  const expected = parseMacHex(envelope.mac);
  if (!expected) return FAIL('bad_mac_format');
  const payload = typeof envelope.payload === 'string' ? decodeBase64Strict(envelope.payload) : undefined;
  if (!payload) return FAIL('bad_base64');
  let iv: Uint8Array | undefined;
  if (envelope.iv !== undefined) {
    iv = typeof envelope.iv === 'string' ? decodeBase64Strict(envelope.iv) : undefined;
    if (!iv || iv.length !== IV_BYTES) return FAIL('bad_base64');
  }
  const header = macHeader(envelope.deviceId, envelope.kid, envelope.nonce, iv);
  // Fields without a byte form cannot carry a valid MAC.
  if (!header) return FAIL('mac_mismatch');
  let found = false;
  for (const entry of keys) {
    if (entry.kid !== envelope.kid) continue;
    found = true;
    const { macKey, encKey } = entry.derived ?? deriveV2Keys(entry.key);
    if (!timingSafeEqual(macV2(macKey, header, payload), expected)) continue;
    const sent = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (!iv) return { ok: true, nonce: envelope.nonce, plaintext: sent, kid: entry.kid };
    const plaintext = decryptPkcs7(sent, encKey, iv);
    if (!plaintext) return FAIL('decrypt_failed');
    return { ok: true, nonce: envelope.nonce, plaintext, kid: entry.kid };
  }
  return FAIL(found ? 'mac_mismatch' : 'no_key');
}

function decryptPkcs7(ciphertext: Buffer, encKey: Uint8Array, iv: Uint8Array): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-128-cbc', encKey, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return undefined;
  }
}
