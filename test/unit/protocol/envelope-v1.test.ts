import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FIELD_KEYS,
  isEnvelopeAttempt,
  openV1,
  parseV1Envelope,
  sealV1,
  type V1Envelope,
  type V1Keys,
} from '../../../src/protocol/envelope-v1.js';

interface EnvelopeVector {
  id: string;
  encrypted: boolean;
  nonce: number;
  plaintext_json: string;
  plaintext_hex: string;
  plaintext_len: number;
  envelope_json: string;
  note: string;
  device_padded_len?: number;
  independent_check: {
    mac_ok: boolean;
    hmac_input_hex: string;
    ciphertext_len?: number;
    device_padding_hex?: string;
    pkcs7_valid?: boolean;
  };
  server_e84f720: { accepted: boolean; error: string | null };
}

interface E2eVector {
  id: string;
  envelope_json: string;
  plaintext_json: string;
  independent_check: { hmac_input_hex: string };
}

const vectors: EnvelopeVector[] = JSON.parse(
  readFileSync(new URL('../../fixtures/envelopes.json', import.meta.url), 'utf8'),
);
const e2e: E2eVector[] = JSON.parse(
  readFileSync(new URL('../../fixtures/e2e.json', import.meta.url), 'utf8'),
);
const conventions: { keys: { hmac_psk_hex: string; aes128_key_hex: string; aes_iv_hex: string } } =
  JSON.parse(readFileSync(new URL('../../fixtures/envelopes.conventions.json', import.meta.url), 'utf8'));

const U32_MAX = 0xffff_ffff;
const OTHER_KEYS: V1Keys = {
  hmacKey: Buffer.alloc(32, 7),
  aesKey: Buffer.alloc(16, 9),
  iv: Buffer.alloc(16, 1),
};

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Independent of the implementation: straight from §2.3. */
function referenceMac(nonce: number, plaintext: Uint8Array): string {
  return createHmac('sha256', FIELD_KEYS.hmacKey).update(u32be(nonce)).update(plaintext).digest('hex');
}

function parseOk(text: string): V1Envelope {
  const parsed = parseV1Envelope(JSON.parse(text));
  if (!parsed.ok) throw new Error(`parse failed: ${parsed.code} ${parsed.message}`);
  return parsed.envelope;
}

function openText(text: string, keys: readonly V1Keys[] = [FIELD_KEYS]) {
  return openV1(parseOk(text), keys);
}

/** Decrypts without removing anything, to see the bytes the device padded with. */
function rawDecrypt(ciphertext: Buffer): Buffer {
  const d = createDecipheriv('aes-128-cbc', FIELD_KEYS.aesKey, FIELD_KEYS.iv).setAutoPadding(false);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}

describe('FIELD_KEYS', () => {
  it('matches the keys in envelopes.conventions.json (§2.5)', () => {
    expect(FIELD_KEYS.hmacKey.toString('hex')).toBe(conventions.keys.hmac_psk_hex);
    expect(FIELD_KEYS.aesKey.toString('hex')).toBe(conventions.keys.aes128_key_hex);
    expect(FIELD_KEYS.iv.toString('hex')).toBe(conventions.keys.aes_iv_hex);
  });
});

describe('envelopes.json field vectors', () => {
  it('covers what the suite relies on', () => {
    const ids = vectors.map((v) => v.id);
    expect(ids).toContain('len48-encrypted');
    expect(ids).toContain('nonce-wrap-0-encrypted');
    expect(vectors.length).toBeGreaterThanOrEqual(18);
  });

  for (const v of vectors) {
    describe(v.id, () => {
      const plaintext = Buffer.from(v.plaintext_hex, 'hex');

      it('fixture is self-consistent (plaintext_json, length, hmac input)', () => {
        expect(plaintext.toString('utf8')).toBe(v.plaintext_json);
        expect(plaintext.length).toBe(v.plaintext_len);
        expect(v.independent_check.hmac_input_hex).toBe(
          Buffer.concat([u32be(v.nonce), plaintext]).toString('hex'),
        );
        expect(v.independent_check.mac_ok).toBe(true);
      });

      it('seals byte for byte', () => {
        expect(sealV1(plaintext, { nonce: v.nonce, keys: FIELD_KEYS, encrypt: v.encrypted })).toBe(
          v.envelope_json,
        );
      });

      it('opens to plaintext_hex', () => {
        const opened = openText(v.envelope_json);
        expect(opened).toMatchObject({ ok: true, nonce: v.nonce, keyIndex: 0 });
        if (opened.ok) expect(opened.plaintext.toString('hex')).toBe(v.plaintext_hex);
      });

      if (v.encrypted) {
        it('ciphertext has the device padding quirk', () => {
          const ciphertext = Buffer.from(parseOk(v.envelope_json).payload, 'base64');
          const paddedLen = Math.ceil(v.plaintext_len / 16) * 16;
          expect(ciphertext.length).toBe(paddedLen);
          expect(v.device_padded_len).toBe(paddedLen);
          expect(v.independent_check.ciphertext_len).toBe(paddedLen);
          const decrypted = rawDecrypt(ciphertext);
          expect(decrypted.subarray(0, v.plaintext_len).toString('hex')).toBe(v.plaintext_hex);
          expect(decrypted.subarray(v.plaintext_len).toString('hex')).toBe(
            v.independent_check.device_padding_hex,
          );
          // Only a multiple of 16 breaks PKCS#7: then there is no padding block at all.
          expect(v.independent_check.pkcs7_valid).toBe(v.plaintext_len % 16 !== 0);
        });
      }
    });
  }

  it('accepts what the reference server rejected for padding (the behaviour to beat)', () => {
    const paddingRejects = vectors.filter((v) => v.server_e84f720.error?.includes('Padding'));
    expect(paddingRejects.map((v) => v.id)).toEqual(['len48-encrypted']);
    for (const v of paddingRejects) {
      expect(v.plaintext_len % 16).toBe(0);
      expect(openText(v.envelope_json).ok).toBe(true);
    }
  });

  it('authenticates nonces the reference rejected as replays: replay is a separate layer', () => {
    const replays = vectors.filter((v) => v.server_e84f720.error?.startsWith('Replay'));
    expect(replays.map((v) => v.nonce).sort()).toEqual([0, 0, 1, 1]);
    for (const v of replays) expect(openText(v.envelope_json).ok).toBe(true);
  });

  it('every other vector was accepted by the reference server too', () => {
    for (const v of vectors) {
      if (v.server_e84f720.error === null) expect(v.server_e84f720.accepted).toBe(true);
    }
  });

  it('shows the v1 weaknesses: static IV and MAC independent of the encrypted flag', () => {
    const byId = new Map(vectors.map((v) => [v.id, parseOk(v.envelope_json)]));
    // Same plaintext under different nonces encrypts identically (CBC, fixed key and IV).
    expect(byId.get('nonce-1-encrypted')?.payload).toBe(byId.get('nonce-wrap-0-encrypted')?.payload);
    // MAC-then-encrypt: the plain and encrypted forms carry the same mac.
    for (const v of vectors.filter((x) => x.encrypted)) {
      const plainId = v.id.replace(/-encrypted$/, '-plain');
      expect(byId.get(v.id)?.mac).toBe(byId.get(plainId)?.mac);
    }
    // Common 32-byte prefix → common first two ciphertext blocks.
    const a = Buffer.from(byId.get('len48-encrypted')?.payload ?? '', 'base64');
    const b = Buffer.from(byId.get('device-payload-fresh-encrypted')?.payload ?? '', 'base64');
    expect(a.subarray(0, 32).equals(b.subarray(0, 32))).toBe(true);
  });

  it('flipping the (unauthenticated) encrypted flag still fails the MAC', () => {
    for (const v of vectors.filter((x) => x.plaintext_len > 0)) {
      const env = parseOk(v.envelope_json);
      expect(openV1({ ...env, encrypted: !env.encrypted }, [FIELD_KEYS]).ok).toBe(false);
    }
  });
});

describe('e2e.json uploads', () => {
  for (const v of e2e) {
    it(`${v.id} opens to plaintext_json`, () => {
      const opened = openText(v.envelope_json);
      expect(opened.ok).toBe(true);
      if (!opened.ok) return;
      expect(opened.plaintext.toString('utf8')).toBe(v.plaintext_json);
      const input = Buffer.concat([u32be(opened.nonce), opened.plaintext]).toString('hex');
      expect(input).toBe(v.independent_check.hmac_input_hex);
      const encrypted = parseOk(v.envelope_json).encrypted;
      expect(sealV1(opened.plaintext, { nonce: opened.nonce, keys: FIELD_KEYS, encrypt: encrypted })).toBe(
        v.envelope_json,
      );
    });
  }
});

describe('sealV1 edge cases missing from the fixtures', () => {
  // §2.7 worked example (16 bytes, nonce 10001), copied from PROTOCOL.md.
  const worked = Buffer.from('{"k":"abcdefgh"}');
  const workedPlain =
    '{"nonce":10001,"payload":"eyJrIjoiYWJjZGVmZ2gifQ==","mac":"c786fbc41e2fb37b713d894e772f9b0ca64be536a8089ff626e78a4da7f98533","encrypted":false}';
  const workedEncrypted =
    '{"nonce":10001,"payload":"H51fA69yzuhG0UMwvovghg==","mac":"c786fbc41e2fb37b713d894e772f9b0ca64be536a8089ff626e78a4da7f98533","encrypted":true}';

  it('reproduces the §2.7 worked example (len 16: one block, no padding block)', () => {
    expect(sealV1(worked, { nonce: 10001, keys: FIELD_KEYS })).toBe(workedPlain);
    expect(sealV1(worked, { nonce: 10001, keys: FIELD_KEYS, encrypt: true })).toBe(workedEncrypted);
    for (const text of [workedPlain, workedEncrypted]) {
      const opened = openText(text);
      expect(opened.ok && opened.plaintext.equals(worked)).toBe(true);
    }
  });

  it('len 0: empty payload in both modes, and it opens', () => {
    for (const encrypt of [false, true]) {
      const text = sealV1(new Uint8Array(0), { nonce: 10002, keys: FIELD_KEYS, encrypt });
      expect(text).toBe(
        `{"nonce":10002,"payload":"","mac":"${referenceMac(10002, Buffer.alloc(0))}","encrypted":${encrypt}}`,
      );
      const opened = openText(text);
      expect(opened.ok && opened.plaintext.length).toBe(0);
    }
  });

  it('len 32 encrypted: two blocks, no padding block', () => {
    const plaintext = Buffer.from('{"device_id":"E","n":1234567890}');
    expect(plaintext.length).toBe(32);
    const env = parseOk(sealV1(plaintext, { nonce: 10007, keys: FIELD_KEYS, encrypt: true }));
    expect(Buffer.from(env.payload, 'base64').length).toBe(32);
    expect(env.mac).toBe(referenceMac(10007, plaintext));
    const opened = openV1(env, [FIELD_KEYS]);
    expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true);
  });

  it('nonce 2^32-1 and 0 (wrap) seal and open', () => {
    for (const nonce of [U32_MAX, 0]) {
      const plaintext = Buffer.from('{"a":1}');
      const text = sealV1(plaintext, { nonce, keys: FIELD_KEYS });
      expect(text).toBe(
        `{"nonce":${nonce},"payload":"eyJhIjoxfQ==","mac":"${referenceMac(nonce, plaintext)}","encrypted":false}`,
      );
      expect(openText(text)).toMatchObject({ ok: true, nonce });
    }
  });

  it('rejects nonces a device cannot send', () => {
    for (const nonce of [-1, U32_MAX + 1, 1.5, Number.NaN]) {
      expect(() => sealV1(Buffer.from('x'), { nonce, keys: FIELD_KEYS })).toThrow(RangeError);
    }
  });

  it('refuses to encrypt without an AES key', () => {
    expect(() =>
      sealV1(Buffer.from('x'), { nonce: 1, keys: { hmacKey: FIELD_KEYS.hmacKey }, encrypt: true }),
    ).toThrow(TypeError);
  });
});

describe('openV1 decryption candidates', () => {
  function sealedWithCiphertext(plaintextForMac: Buffer, ciphertext: Buffer, nonce = 42): V1Envelope {
    return {
      nonce,
      payload: ciphertext.toString('base64'),
      mac: referenceMac(nonce, plaintextForMac),
      encrypted: true,
    };
  }
  function encryptRaw(data: Buffer): Buffer {
    const c = createCipheriv('aes-128-cbc', FIELD_KEYS.aesKey, FIELD_KEYS.iv).setAutoPadding(false);
    return Buffer.concat([c.update(data), c.final()]);
  }

  it('16 bytes ending in 0x01 (looks padded) is read unstripped when the MAC says so', () => {
    const plaintext = Buffer.from('{"k":"abcdefg"}\x01', 'latin1');
    expect(plaintext.length).toBe(16);
    const opened = openV1(sealedWithCiphertext(plaintext, encryptRaw(plaintext)), [FIELD_KEYS]);
    expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true);
  });

  it('15 bytes with one 0x01 pad byte is read stripped', () => {
    const plaintext = Buffer.from('{"k":"abcdefg"}');
    const padded = Buffer.concat([plaintext, Buffer.from([1])]);
    const opened = openV1(sealedWithCiphertext(plaintext, encryptRaw(padded)), [FIELD_KEYS]);
    expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true);
  });

  it('standard PKCS#7 (a full 0x10 block) from a non-device sender is accepted too', () => {
    const plaintext = Buffer.from('{"k":"abcdefgh"}');
    const padded = Buffer.concat([plaintext, Buffer.alloc(16, 16)]);
    const opened = openV1(sealedWithCiphertext(plaintext, encryptRaw(padded)), [FIELD_KEYS]);
    expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true);
  });

  it('ciphertext not a multiple of 16 → decrypt_failed', () => {
    const env = sealedWithCiphertext(Buffer.from('x'), Buffer.alloc(17));
    expect(openV1(env, [FIELD_KEYS])).toEqual({
      ok: false,
      code: 'authentication_failed',
      reason: 'decrypt_failed',
    });
  });
});

describe('openV1 failures and keys', () => {
  const text = sealV1(Buffer.from('{"a":1}'), { nonce: 10010, keys: FIELD_KEYS });
  const env = parseOk(text);
  const fail = (reason: string) => ({ ok: false, code: 'authentication_failed', reason });

  it('accepts an upper-case mac', () => {
    expect(openV1({ ...env, mac: env.mac.toUpperCase() }, [FIELD_KEYS]).ok).toBe(true);
  });

  it('mac not exactly 64 hex digits → bad_mac_format', () => {
    for (const mac of [env.mac.slice(1), `${env.mac}0`, `${env.mac.slice(1)}g`, '', ` ${env.mac.slice(1)}`]) {
      expect(openV1({ ...env, mac }, [FIELD_KEYS])).toEqual(fail('bad_mac_format'));
    }
  });

  it('non-base64 payload → bad_base64', () => {
    for (const payload of ['e', 'e3=0', 'e30=\n', 'e3-_', '====', 'e30=e30=']) {
      expect(openV1({ ...env, payload }, [FIELD_KEYS])).toEqual(fail('bad_base64'));
    }
  });

  it('no keys, or no AES key for an encrypted envelope → no_key', () => {
    expect(openV1(env, [])).toEqual(fail('no_key'));
    const encrypted = parseOk(sealV1(Buffer.from('{}'), { nonce: 1, keys: FIELD_KEYS, encrypt: true }));
    expect(openV1(encrypted, [{ hmacKey: FIELD_KEYS.hmacKey }])).toEqual(fail('no_key'));
  });

  it('wrong key → mac_mismatch; rotation picks the matching key', () => {
    expect(openV1(env, [OTHER_KEYS])).toEqual(fail('mac_mismatch'));
    expect(openV1(env, [OTHER_KEYS, FIELD_KEYS])).toMatchObject({ ok: true, keyIndex: 1 });
    expect(openV1(env, [FIELD_KEYS, OTHER_KEYS])).toMatchObject({ ok: true, keyIndex: 0 });
  });

  it('a misconfigured AES key is a failure, not an exception', () => {
    const encrypted = parseOk(sealV1(Buffer.from('{}'), { nonce: 1, keys: FIELD_KEYS, encrypt: true }));
    const broken = { ...FIELD_KEYS, aesKey: Buffer.alloc(15) };
    expect(openV1(encrypted, [broken]).ok).toBe(false);
  });
});

describe('parseV1Envelope / isEnvelopeAttempt', () => {
  const good = { nonce: 1, payload: 'e30=', mac: 'ab', encrypted: false };

  it('classifies envelope attempts (§10.2.1)', () => {
    expect(isEnvelopeAttempt({ nonce: 1 })).toBe(true);
    expect(isEnvelopeAttempt({ payload: 'x' })).toBe(true);
    expect(isEnvelopeAttempt({ mac: null })).toBe(true);
    expect(isEnvelopeAttempt({ device_id: 'x', timestamp: 1 })).toBe(false);
    for (const v of [null, 1, 'nonce', [], [{ nonce: 1 }]]) expect(isEnvelopeAttempt(v)).toBe(false);
  });

  it('keeps a short mac for openV1 to reject (401, not 400)', () => {
    expect(parseV1Envelope(good)).toEqual({ ok: true, envelope: good });
  });

  it('defaults encrypted to false and reads device_id', () => {
    expect(parseV1Envelope({ nonce: 1, payload: '', mac: '', device_id: 'd1' })).toEqual({
      ok: true,
      envelope: { nonce: 1, payload: '', mac: '', encrypted: false, deviceId: 'd1' },
    });
  });

  it.each([
    [{ payload: 'e30=', mac: 'ab' }],
    [{ nonce: 1, mac: 'ab' }],
    [{ nonce: 1, payload: 'e30=' }],
    [{ nonce: 'x' }],
  ])('missing field → missing_security_fields: %j', (body) => {
    expect(parseV1Envelope(body)).toMatchObject({ ok: false, code: 'missing_security_fields' });
  });

  it.each([
    ['string nonce', { ...good, nonce: '1' }],
    ['float nonce', { ...good, nonce: 1.5 }],
    ['boolean nonce', { ...good, nonce: true }],
    ['null nonce', { ...good, nonce: null }],
    ['negative nonce', { ...good, nonce: -1 }],
    ['negative zero nonce', { ...good, nonce: -0 }],
    ['nonce 2^32', { ...good, nonce: 2 ** 32 }],
    ['payload number', { ...good, payload: 1 }],
    ['mac number', { ...good, mac: 1 }],
    ['encrypted string', { ...good, encrypted: 'true' }],
    ['encrypted null', { ...good, encrypted: null }],
    ['device_id empty', { ...good, device_id: '' }],
    ['device_id number', { ...good, device_id: 5 }],
    ['array', [good]],
    ['null', null],
    ['string', 'x'],
  ])('%s → malformed_envelope', (_name, body) => {
    expect(parseV1Envelope(body)).toMatchObject({ ok: false, code: 'malformed_envelope' });
  });

  it('accepts the nonce bounds', () => {
    expect(parseV1Envelope({ ...good, nonce: 0 }).ok).toBe(true);
    expect(parseV1Envelope({ ...good, nonce: U32_MAX }).ok).toBe(true);
  });
});

describe('properties', () => {
  const sealedArb = fc.record({
    plaintext: fc.uint8Array({ maxLength: 200 }),
    nonce: fc.integer({ min: 0, max: U32_MAX }),
    encrypt: fc.boolean(),
  });

  it('seal → parse → open round-trips', () => {
    fc.assert(
      fc.property(sealedArb, ({ plaintext, nonce, encrypt }) => {
        const text = sealV1(plaintext, { nonce, keys: FIELD_KEYS, encrypt });
        const opened = openText(text, [OTHER_KEYS, FIELD_KEYS]);
        expect(opened).toMatchObject({ ok: true, nonce, keyIndex: 1 });
        return opened.ok && opened.plaintext.equals(plaintext);
      }),
      { numRuns: 300 },
    );
  });

  const tamperArb = fc.oneof(
    fc.record({ kind: fc.constant('nonce' as const), value: fc.integer({ min: 0, max: U32_MAX }) }),
    fc.record({ kind: fc.constant('payload-bitflip' as const), value: fc.nat() }),
    fc.record({ kind: fc.constant('payload-truncate' as const), value: fc.nat() }),
    fc.record({ kind: fc.constant('payload-other' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({ kind: fc.constant('mac-bitflip' as const), value: fc.nat() }),
    fc.record({ kind: fc.constant('mac-truncate' as const), value: fc.nat() }),
    fc.record({ kind: fc.constant('mac-other' as const), mac: fc.stringMatching(/^[0-9a-f]{64}$/) }),
  );

  function tamper(env: V1Envelope, t: TamperCase): V1Envelope | undefined {
    const bytes = Buffer.from(env.payload, 'base64');
    switch (t.kind) {
      case 'nonce':
        return t.value === env.nonce ? undefined : { ...env, nonce: t.value };
      case 'payload-bitflip': {
        if (bytes.length === 0) return undefined;
        const bit = t.value % (bytes.length * 8);
        bytes[bit >> 3] ^= 1 << (bit & 7);
        return { ...env, payload: bytes.toString('base64') };
      }
      case 'payload-truncate':
        if (bytes.length === 0) return undefined;
        return { ...env, payload: bytes.subarray(0, t.value % bytes.length).toString('base64') };
      case 'payload-other': {
        const other = Buffer.from(t.bytes);
        return other.equals(bytes) ? undefined : { ...env, payload: other.toString('base64') };
      }
      case 'mac-bitflip': {
        const mac = Buffer.from(env.mac, 'hex');
        const bit = t.value % 256;
        mac[bit >> 3] ^= 1 << (bit & 7);
        return { ...env, mac: mac.toString('hex') };
      }
      case 'mac-truncate':
        return { ...env, mac: env.mac.slice(0, t.value % 64) };
      case 'mac-other':
        return t.mac === env.mac ? undefined : { ...env, mac: t.mac };
    }
  }
  type TamperCase = typeof tamperArb extends fc.Arbitrary<infer T> ? T : never;

  it('any change to nonce, payload or mac is rejected', () => {
    fc.assert(
      fc.property(sealedArb, tamperArb, ({ plaintext, nonce, encrypt }, t) => {
        const env = parseOk(sealV1(plaintext, { nonce, keys: FIELD_KEYS, encrypt }));
        const changed = tamper(env, t);
        fc.pre(changed !== undefined);
        if (changed === undefined) return;
        const opened = openV1(changed, [FIELD_KEYS]);
        expect(opened.ok).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  const keysArb = fc.array(
    fc.record({
      hmacKey: fc.uint8Array({ maxLength: 40 }),
      aesKey: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined }),
      iv: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined }),
    }),
    { maxLength: 3 },
  );

  it('random JSON never makes parse or open throw', () => {
    const envelopeLike = fc.record(
      {
        nonce: fc.oneof(fc.integer({ min: -5, max: U32_MAX + 5 }), fc.double(), fc.jsonValue()),
        payload: fc.oneof(fc.base64String({ maxLength: 64 }), fc.string(), fc.jsonValue()),
        mac: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{60,68}$/), fc.string(), fc.jsonValue()),
        encrypted: fc.oneof(fc.boolean(), fc.jsonValue()),
        device_id: fc.oneof(fc.string(), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), envelopeLike), keysArb, (body, keys) => {
        isEnvelopeAttempt(body);
        const parsed = parseV1Envelope(body);
        if (parsed.ok) openV1(parsed.envelope, [FIELD_KEYS, ...keys]);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes and ill-typed envelopes never make open throw', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        keysArb,
        (bytes, nonce, payload, mac, keys) => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.from(bytes).toString('utf8'));
          } catch {
            body = undefined;
          }
          parseV1Envelope(body);
          const bogus = { nonce, payload, mac, encrypted: true } as unknown as V1Envelope;
          expect(openV1(bogus, keys).ok).toBe(false);
          openV1({ ...bogus, payload: Buffer.from(bytes).toString('base64') }, keys);
        },
      ),
      { numRuns: 300 },
    );
  });
});
