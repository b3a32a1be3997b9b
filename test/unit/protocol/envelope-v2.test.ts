import { createCipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deriveV2Keys,
  isV2Envelope,
  openV2,
  parseV2Envelope,
  sealV2,
  type V2Envelope,
  type V2Key,
  v2MacInput,
  withDerivedV2Keys,
} from '../../../src/protocol/envelope-v2.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const OTHER = Buffer.alloc(32, 0xaa);
const IV = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'hex');
const MAX_NONCE = Number.MAX_SAFE_INTEGER;

function parseOk(text: string): V2Envelope {
  const parsed = parseV2Envelope(JSON.parse(text));
  if (!parsed.ok) throw new Error(`parse failed: ${parsed.code} ${parsed.message}`);
  return parsed.envelope;
}

const fail = (reason: string) => ({ ok: false, code: 'authentication_failed', reason });

describe('deriveV2Keys (§11.1)', () => {
  it('K_mac = HMAC(K, "ecowatt-v2 mac"), K_enc = first 16 bytes of HMAC(K, "ecowatt-v2 enc")', () => {
    const { macKey, encKey } = deriveV2Keys(KEY);
    expect(macKey.toString('hex')).toBe(createHmac('sha256', KEY).update('ecowatt-v2 mac').digest('hex'));
    const encFull = createHmac('sha256', KEY).update('ecowatt-v2 enc').digest();
    expect(encKey.length).toBe(16);
    expect(encKey.equals(encFull.subarray(0, 16))).toBe(true);
    expect(macKey.subarray(0, 16).equals(encKey)).toBe(false);
  });
});

describe('v2MacInput', () => {
  it('lays out EW2 | id | kid | u64be nonce | flags | iv | payload', () => {
    const input = v2MacInput({
      deviceId: 'dev-1',
      kid: 'k1',
      nonce: MAX_NONCE,
      iv: IV,
      payload: Buffer.from('abc'),
    });
    const expected = [
      '455732', // "EW2"
      '05',
      Buffer.from('dev-1').toString('hex'),
      '02',
      Buffer.from('k1').toString('hex'),
      '001fffffffffffff', // 2^53-1
      '01', // encrypted
      IV.toString('hex'),
      Buffer.from('abc').toString('hex'),
    ].join('');
    expect(input.toString('hex')).toBe(expected);
  });

  it('without iv: flags 0 and no iv bytes; the length prefix counts UTF-8 bytes', () => {
    const input = v2MacInput({ deviceId: 'é', kid: 'k', nonce: 2 ** 32 + 5, payload: new Uint8Array(0) });
    expect(input.toString('hex')).toBe(`45573202c3a9016b${'0000000100000005'}00`);
  });

  it('refuses fields it cannot encode', () => {
    const ok = { deviceId: 'd', kid: 'k', nonce: 1, payload: new Uint8Array(0) };
    expect(() => v2MacInput({ ...ok, deviceId: 'x'.repeat(256) })).toThrow(RangeError);
    expect(() => v2MacInput({ ...ok, kid: '' })).toThrow(RangeError);
    expect(() => v2MacInput({ ...ok, nonce: 2 ** 53 })).toThrow(RangeError);
    expect(() => v2MacInput({ ...ok, iv: new Uint8Array(15) })).toThrow(RangeError);
  });
});

describe('sealV2', () => {
  it('builds the exact JSON of §11.1 (key order, iv only when encrypted)', () => {
    const plaintext = Buffer.from('{"a":1}');
    const { macKey, encKey } = deriveV2Keys(KEY);
    const cipher = createCipheriv('aes-128-cbc', encKey, IV);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const macInput = v2MacInput({ deviceId: 'dev"1', kid: 'k1', nonce: 7, iv: IV, payload: ciphertext });
    const mac = createHmac('sha256', macKey).update(macInput).digest('hex');
    expect(
      sealV2(plaintext, { deviceId: 'dev"1', kid: 'k1', nonce: 7, key: KEY, encrypt: true, iv: IV }),
    ).toBe(
      `{"v":2,"device_id":"dev\\"1","kid":"k1","nonce":7,"iv":"${IV.toString('base64')}",` +
        `"payload":"${ciphertext.toString('base64')}","mac":"${mac}"}`,
    );
    const plainMac = createHmac('sha256', macKey)
      .update(v2MacInput({ deviceId: 'd', kid: 'k1', nonce: 0, payload: plaintext }))
      .digest('hex');
    expect(sealV2(plaintext, { deviceId: 'd', kid: 'k1', nonce: 0, key: KEY })).toBe(
      `{"v":2,"device_id":"d","kid":"k1","nonce":0,"payload":"eyJhIjoxfQ==","mac":"${plainMac}"}`,
    );
  });

  it('uses a fresh random IV per message by default', () => {
    const a = parseOk(
      sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'k', nonce: 1, key: KEY, encrypt: true }),
    );
    const b = parseOk(
      sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'k', nonce: 1, key: KEY, encrypt: true }),
    );
    expect(a.iv).not.toBe(b.iv);
    expect(a.payload).not.toBe(b.payload);
  });

  it('throws on programmer errors', () => {
    const base = { deviceId: 'd', kid: 'k', nonce: 1, key: KEY };
    expect(() => sealV2(Buffer.alloc(0), { ...base, nonce: -1 })).toThrow(RangeError);
    expect(() => sealV2(Buffer.alloc(0), { ...base, deviceId: '' })).toThrow(RangeError);
    expect(() => sealV2(Buffer.alloc(0), { ...base, encrypt: true, iv: Buffer.alloc(8) })).toThrow(
      RangeError,
    );
    expect(() => sealV2(Buffer.alloc(0), { ...base, iv: IV })).toThrow(TypeError);
  });
});

describe('openV2', () => {
  const keys: V2Key[] = [
    { kid: 'old', key: OTHER },
    { kid: 'k1', key: KEY },
  ];

  it('opens plain and encrypted envelopes, including empty plaintexts, and names the kid', () => {
    for (const encrypt of [false, true]) {
      for (const plaintext of [
        Buffer.alloc(0),
        Buffer.from('{"device_id":"d","v":[1,2,3]}'),
        Buffer.alloc(16, 1),
      ]) {
        const env = parseOk(sealV2(plaintext, { deviceId: 'd', kid: 'k1', nonce: 9, key: KEY, encrypt }));
        const opened = openV2(env, keys);
        expect(opened).toMatchObject({ ok: true, nonce: 9, kid: 'k1' });
        expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true);
      }
    }
  });

  it('accepts pre-derived keys and an upper-case mac', () => {
    const env = parseOk(
      sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'k1', nonce: 1, key: KEY, encrypt: true }),
    );
    expect(openV2({ ...env, mac: env.mac.toUpperCase() }, withDerivedV2Keys(keys)).ok).toBe(true);
  });

  it('unknown kid → no_key; known kid with the wrong key → mac_mismatch', () => {
    const env = parseOk(sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'k1', nonce: 1, key: KEY }));
    expect(openV2(env, [{ kid: 'k2', key: KEY }])).toEqual(fail('no_key'));
    expect(openV2(env, [{ kid: 'k1', key: OTHER }])).toEqual(fail('mac_mismatch'));
    expect(openV2(env, [])).toEqual(fail('no_key'));
  });

  it('the kid and device id are authenticated, not just used for lookup', () => {
    const env = parseOk(sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'a', nonce: 1, key: KEY }));
    const sameKeyTwice = [
      { kid: 'a', key: KEY },
      { kid: 'b', key: KEY },
    ];
    expect(openV2(env, sameKeyTwice).ok).toBe(true);
    expect(openV2({ ...env, kid: 'b' }, sameKeyTwice)).toEqual(fail('mac_mismatch'));
    expect(openV2({ ...env, deviceId: 'e' }, sameKeyTwice)).toEqual(fail('mac_mismatch'));
  });

  it('bad padding behind a valid MAC → decrypt_failed; behind a bad MAC → mac_mismatch (MAC first)', () => {
    const { macKey, encKey } = deriveV2Keys(KEY);
    const cipher = createCipheriv('aes-128-cbc', encKey, IV).setAutoPadding(false);
    const badPadding = Buffer.concat([cipher.update(Buffer.alloc(16, 0)), cipher.final()]);
    for (const payload of [badPadding, Buffer.alloc(0)]) {
      const mac = createHmac('sha256', macKey)
        .update(v2MacInput({ deviceId: 'd', kid: 'k1', nonce: 3, iv: IV, payload }))
        .digest('hex');
      const env: V2Envelope = {
        v: 2,
        deviceId: 'd',
        kid: 'k1',
        nonce: 3,
        iv: IV.toString('base64'),
        payload: payload.toString('base64'),
        mac,
      };
      expect(openV2(env, keys)).toEqual(fail('decrypt_failed'));
      expect(openV2({ ...env, mac: '0'.repeat(64) }, keys)).toEqual(fail('mac_mismatch'));
    }
  });

  it('rejects bad mac formats and bad base64', () => {
    const env = parseOk(
      sealV2(Buffer.from('x'), { deviceId: 'd', kid: 'k1', nonce: 1, key: KEY, encrypt: true }),
    );
    expect(openV2({ ...env, mac: env.mac.slice(2) }, keys)).toEqual(fail('bad_mac_format'));
    expect(openV2({ ...env, payload: 'a' }, keys)).toEqual(fail('bad_base64'));
    expect(openV2({ ...env, iv: 'AAAA' }, keys)).toEqual(fail('bad_base64'));
  });
});

describe('parseV2Envelope / isV2Envelope', () => {
  const good = { v: 2, device_id: 'd', kid: 'k', nonce: 1, payload: '', mac: 'x' };

  it('recognises v2 bodies', () => {
    expect(isV2Envelope(good)).toBe(true);
    for (const body of [{ ...good, v: '2' }, { nonce: 1, payload: '', mac: '' }, null, [good], 2]) {
      expect(isV2Envelope(body)).toBe(false);
    }
  });

  it('maps fields, keeping iv only when present', () => {
    expect(parseV2Envelope(good)).toEqual({
      ok: true,
      envelope: { v: 2, deviceId: 'd', kid: 'k', nonce: 1, payload: '', mac: 'x' },
    });
    const iv = IV.toString('base64');
    expect(parseV2Envelope({ ...good, iv, nonce: MAX_NONCE })).toMatchObject({ ok: true, envelope: { iv } });
  });

  it.each(['nonce', 'payload', 'mac'])('missing %s → missing_security_fields', (field) => {
    const body: Record<string, unknown> = { ...good };
    delete body[field];
    expect(parseV2Envelope(body)).toMatchObject({ ok: false, code: 'missing_security_fields' });
  });

  it('accepts ids of exactly 255 UTF-8 bytes', () => {
    expect(parseV2Envelope({ ...good, device_id: `${'é'.repeat(127)}x` }).ok).toBe(true);
  });

  it.each([
    ['v missing', { ...good, v: undefined }],
    ['v 1', { ...good, v: 1 }],
    ['nonce 2^53', { ...good, nonce: 2 ** 53 }],
    ['nonce -1', { ...good, nonce: -1 }],
    ['nonce string', { ...good, nonce: '1' }],
    ['nonce float', { ...good, nonce: 0.5 }],
    ['device_id missing', { ...good, device_id: undefined }],
    ['device_id empty', { ...good, device_id: '' }],
    ['device_id 256 bytes', { ...good, device_id: 'é'.repeat(128) }],
    ['device_id lone surrogate', { ...good, device_id: 'a\ud800' }],
    ['kid number', { ...good, kid: 1 }],
    ['kid empty', { ...good, kid: '' }],
    ['iv 8 bytes', { ...good, iv: 'AAAAAAAAAAA=' }],
    ['iv not base64', { ...good, iv: '!' }],
    ['iv null', { ...good, iv: null }],
    ['payload number', { ...good, payload: 5 }],
    ['mac null', { ...good, mac: null }],
    ['not an object', 'x'],
  ])('%s → malformed_envelope', (_name, body) => {
    const cleaned = typeof body === 'object' ? JSON.parse(JSON.stringify(body)) : body;
    expect(parseV2Envelope(cleaned)).toMatchObject({ ok: false, code: 'malformed_envelope' });
  });
});

describe('properties', () => {
  const idArb = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
    .filter((id) => Buffer.byteLength(id) <= 255);
  const sealArb = fc.record({
    plaintext: fc.uint8Array({ maxLength: 200 }),
    deviceId: idArb,
    kid: idArb,
    nonce: fc.maxSafeNat(),
    encrypt: fc.boolean(),
  });

  it('seal → parse → open round-trips', () => {
    fc.assert(
      fc.property(sealArb, ({ plaintext, deviceId, kid, nonce, encrypt }) => {
        const env = parseOk(sealV2(plaintext, { deviceId, kid, nonce, key: KEY, encrypt }));
        expect(env).toMatchObject({ deviceId, kid, nonce });
        const opened = openV2(env, [
          { kid: `${kid}-old`, key: OTHER },
          { kid, key: KEY },
        ]);
        expect(opened).toMatchObject({ ok: true, nonce, kid });
        return opened.ok && opened.plaintext.equals(plaintext);
      }),
      { numRuns: 200 },
    );
  });

  const fieldArb = fc.constantFrom('deviceId', 'kid', 'nonce', 'iv', 'payload', 'mac');

  it('any change to a sent field is rejected', () => {
    fc.assert(
      fc.property(sealArb, fieldArb, fc.nat(), fc.uint8Array({ maxLength: 40 }), (s, field, pick, other) => {
        const env = parseOk(sealV2(s.plaintext, { ...s, key: KEY }));
        const changed: V2Envelope = { ...env };
        const flip = (b64: string): string => {
          const bytes = Buffer.from(b64, 'base64');
          if (bytes.length === 0) return Buffer.from(other).toString('base64');
          const bit = pick % (bytes.length * 8);
          bytes[bit >> 3] ^= 1 << (bit & 7);
          return bytes.toString('base64');
        };
        switch (field) {
          case 'deviceId':
            changed.deviceId = `${env.deviceId}x`;
            break;
          case 'kid':
            changed.kid = `${env.kid}x`;
            break;
          case 'nonce':
            changed.nonce = env.nonce === pick ? pick + 1 : pick;
            break;
          case 'iv':
            changed.iv =
              env.iv === undefined ? Buffer.alloc(16, pick & 0xff).toString('base64') : flip(env.iv);
            break;
          case 'payload':
            changed.payload = pick % 2 === 0 ? flip(env.payload) : env.payload.slice(0, -4);
            break;
          case 'mac': {
            const i = pick % 64;
            const digit = env.mac[i] === '0' ? '1' : '0';
            changed.mac =
              pick % 3 === 0 ? env.mac.slice(1) : env.mac.slice(0, i) + digit + env.mac.slice(i + 1);
            break;
          }
        }
        fc.pre(JSON.stringify(changed) !== JSON.stringify(env));
        const keys = [
          { kid: env.kid, key: KEY },
          { kid: `${env.kid}x`, key: KEY },
        ];
        expect(openV2(changed, keys).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('random JSON and ill-typed envelopes never make parse or open throw', () => {
    const envelopeLike = fc.record(
      {
        v: fc.oneof(fc.constant(2), fc.jsonValue()),
        device_id: fc.oneof(idArb, fc.jsonValue()),
        kid: fc.oneof(fc.constant('k1'), fc.jsonValue()),
        nonce: fc.oneof(fc.maxSafeNat(), fc.double(), fc.jsonValue()),
        iv: fc.oneof(fc.base64String({ maxLength: 28 }), fc.jsonValue()),
        payload: fc.oneof(fc.base64String({ maxLength: 64 }), fc.jsonValue()),
        mac: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), envelopeLike), fc.anything(), (body, junk) => {
        isV2Envelope(body);
        const parsed = parseV2Envelope(body);
        const keys = [{ kid: 'k1', key: KEY }];
        if (parsed.ok) openV2(parsed.envelope, keys);
        if (typeof body === 'object' && body !== null) {
          const bogus = { ...body, deviceId: junk, kid: 'k1', nonce: junk } as unknown as V2Envelope;
          expect(openV2(bogus, keys).ok).toBe(false);
        }
      }),
      { numRuns: 400 },
    );
  });
});
