/**
 * What a protocol v2 device checks in the server's answers (docs/field-devices.md "Per-device identity"): the
 * `X-EcoWatt-MAC` binding an answer to the request it answers, and a rotated key delivered in an
 * authenticated `/changes` answer, AES-128-CBC under the current key's K_enc. Pure.
 */
import { createDecipheriv, timingSafeEqual } from 'node:crypto';
import { decodeBase64Strict } from '../protocol/base64.js';
import { deriveV2Keys } from '../protocol/envelope-v2.js';
import { v2ResponseMac } from '../protocol/v2-response.js';
import type { V2Identity } from './field-device.js';

const KEY_BYTES = 32;
const MAX_KID_BYTES = 255;

/** Whether `mac` is the server's MAC over this answer to the request sealed with `nonce`. */
export function answerMacValid(
  deviceId: string,
  identity: V2Identity,
  nonce: number,
  status: number,
  body: string,
  mac: string | undefined,
): boolean {
  if (mac === undefined || !/^[0-9a-f]{64}$/.test(mac)) return false;
  const expected = v2ResponseMac(
    { macKey: deriveV2Keys(identity.key).macKey, deviceId, kid: identity.kid, nonce },
    status,
    body,
  );
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(mac, 'hex'));
}

/**
 * The new key of a `new_key` offer `{kid, iv, key}`, opened with the key that sealed the request;
 * undefined when the offer cannot be a key (the device keeps the one it has).
 */
export function openKeyOffer(offer: unknown, current: V2Identity): V2Identity | undefined {
  if (typeof offer !== 'object' || offer === null) return undefined;
  const { kid, iv, key } = offer as Record<string, unknown>;
  if (typeof kid !== 'string' || kid.length === 0 || Buffer.byteLength(kid) > MAX_KID_BYTES) return undefined;
  const ivBytes = typeof iv === 'string' ? decodeBase64Strict(iv) : undefined;
  const sealed = typeof key === 'string' ? decodeBase64Strict(key) : undefined;
  if (ivBytes?.length !== 16 || !sealed || sealed.length === 0 || sealed.length % 16 !== 0) return undefined;
  try {
    const decipher = createDecipheriv('aes-128-cbc', deriveV2Keys(current.key).encKey, ivBytes);
    const opened = Buffer.concat([decipher.update(sealed), decipher.final()]);
    return opened.length === KEY_BYTES ? { kid, key: opened } : undefined;
  } catch {
    // Bad padding: not a key sealed under this device's key.
    return undefined;
  }
}
