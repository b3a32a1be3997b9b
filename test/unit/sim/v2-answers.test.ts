/** What a v2 device checks in the server's answers: their MAC, and a key delivered in one. */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveV2Keys } from '../../../src/protocol/envelope-v2.js';
import { v2ResponseMac } from '../../../src/protocol/v2-response.js';
import { answerMacValid, openKeyOffer } from '../../../src/sim/v2-answers.js';

const k1 = { kid: 'k1', key: randomBytes(32) };

function offer(newKey: Buffer, under = k1.key, kid = 'k2') {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-128-cbc', deriveV2Keys(under).encKey, iv);
  const key = Buffer.concat([cipher.update(newKey), cipher.final()]);
  return { kid, iv: iv.toString('base64'), key: key.toString('base64') };
}

describe('answerMacValid', () => {
  const body = '{"Changed":false}';
  const mac = v2ResponseMac(
    { macKey: deriveV2Keys(k1.key).macKey, deviceId: 'd', kid: 'k1', nonce: 7 },
    200,
    body,
  );

  it('accepts the server’s MAC for this request, status and body only', () => {
    expect(answerMacValid('d', k1, 7, 200, body, mac)).toBe(true);
    expect(answerMacValid('d', k1, 8, 200, body, mac)).toBe(false);
    expect(answerMacValid('d', k1, 7, 401, body, mac)).toBe(false);
    expect(answerMacValid('d', k1, 7, 200, `${body} `, mac)).toBe(false);
    expect(answerMacValid('e', k1, 7, 200, body, mac)).toBe(false);
    expect(answerMacValid('d', { kid: 'k1', key: randomBytes(32) }, 7, 200, body, mac)).toBe(false);
  });

  it('refuses a missing or malformed header', () => {
    expect(answerMacValid('d', k1, 7, 200, body, undefined)).toBe(false);
    expect(answerMacValid('d', k1, 7, 200, body, mac.toUpperCase())).toBe(false);
    expect(answerMacValid('d', k1, 7, 200, body, mac.slice(2))).toBe(false);
  });
});

describe('openKeyOffer', () => {
  it('opens a key sealed under the current key', () => {
    const next = randomBytes(32);
    expect(openKeyOffer(offer(next), k1)).toEqual({ kid: 'k2', key: next });
  });

  it('refuses an offer that is not a key for this device', () => {
    expect(openKeyOffer(offer(randomBytes(32), randomBytes(32)), k1)).toBeUndefined();
    expect(openKeyOffer(offer(randomBytes(16)), k1)).toBeUndefined();
    expect(openKeyOffer({ ...offer(randomBytes(32)), kid: '' }, k1)).toBeUndefined();
    expect(openKeyOffer({ ...offer(randomBytes(32)), iv: 'AAAA' }, k1)).toBeUndefined();
    expect(openKeyOffer('k2', k1)).toBeUndefined();
    expect(openKeyOffer(null, k1)).toBeUndefined();
  });
});
