import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bootNonce13,
  type Envelope13,
  nextNonce13,
  open13,
  parse13Envelope,
  seal13,
} from '../../../../src/protocol/gen13/index.js';
import { ENVELOPES, PSK } from './fixtures.js';

function parse(text: string): Envelope13 {
  const p = parse13Envelope(JSON.parse(text));
  if (!p.ok) throw new Error(p.message);
  return p.envelope;
}

describe('1.3 envelope vectors', () => {
  it.each(ENVELOPES.map((v) => [v.id, v] as const))('%s seals byte for byte and opens', (_id, v) => {
    expect(seal13(v.plaintext_json, v.nonce, PSK)).toBe(v.envelope_json);
    expect(seal13(Buffer.from(v.plaintext_json), v.nonce, PSK)).toBe(v.envelope_json);
    const opened = open13(parse(v.envelope_json), PSK);
    if (!opened.ok) throw new Error(opened.reason);
    expect(opened.nonce).toBe(v.nonce);
    expect(opened.plaintext.toString('utf8')).toBe(v.plaintext_json);
  });

  it.each(ENVELOPES.map((v) => [v.id, v] as const))('%s: nonce bookkeeping', (_id, v) => {
    expect(bootNonce13(v.nvs_nonce_before_boot)).toBe(v.nonce_after_init);
    // A "-next" vector is the second seal of the same boot.
    const first = nextNonce13(bootNonce13(v.nvs_nonce_before_boot));
    const expected = v.id.endsWith('-next') ? nextNonce13(first) : first;
    expect(expected).toBe(v.nonce);
    expect(v.nvs_nonce_after).toBe(v.nonce);
  });

  it('nextNonce13(null) is the first nonce of a fresh device; the floor is not re-applied after a wrap', () => {
    expect(nextNonce13(null)).toBe(11001);
    expect(nextNonce13(0xffff_ffff)).toBe(0);
    expect(nextNonce13(0)).toBe(1);
    expect(bootNonce13(5)).toBe(11000);
    expect(bootNonce13(0)).toBe(11000);
    expect(() => nextNonce13(-1)).toThrow(RangeError);
    expect(() => seal13('{}', 2 ** 32, PSK)).toThrow(RangeError);
  });
});

describe('parse13Envelope', () => {
  const good = JSON.parse(ENVELOPES[0].envelope_json);

  it('accepts the 1.3 shape and the e84f720 shape without the fifth key', () => {
    expect(parse13Envelope(good).ok).toBe(true);
    const { compressed: _c, ...v1 } = good;
    expect(parse13Envelope(v1).ok).toBe(true);
  });

  it('rejects flags 1.3 never sets, and non-boolean flags, as malformed', () => {
    for (const body of [
      { ...good, compressed: true },
      { ...good, compressed: 'false' },
      { ...good, compressed: null },
      { ...good, encrypted: true },
      { ...good, nonce: -1 },
      [],
      null,
    ]) {
      expect(parse13Envelope(body)).toMatchObject({ ok: false, code: 'malformed_envelope' });
    }
    expect(parse13Envelope({ nonce: 1 })).toMatchObject({ ok: false, code: 'missing_security_fields' });
  });

  it('fails with another key, or with any of several wrong keys; finds the right one among them', () => {
    const env = parse(ENVELOPES[0].envelope_json);
    expect(open13(env, Buffer.alloc(32))).toMatchObject({ ok: false, reason: 'mac_mismatch' });
    expect(open13(env, [Buffer.alloc(32), PSK])).toMatchObject({ ok: true, keyIndex: 1 });
    expect(open13(env, [])).toMatchObject({ ok: false, reason: 'no_key' });
    expect(open13({ ...env, mac: 'zz' }, PSK)).toMatchObject({ ok: false, reason: 'bad_mac_format' });
  });
});

describe('envelope properties', () => {
  it('seal → parse → open round-trips any plaintext and nonce', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(0xffff_ffff), (plain, nonce) => {
        const text = seal13(Buffer.from(plain), nonce, PSK);
        const opened = open13(parse(text), PSK);
        expect(opened.ok && opened.nonce === nonce && opened.plaintext.equals(Buffer.from(plain))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('any single bit flip in nonce, payload bytes or mac fails verification', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.nat(0xffff_ffff),
        fc.constantFrom('nonce', 'payload', 'mac'),
        fc.nat(),
        (plain, nonce, field, at) => {
          const env = parse(seal13(Buffer.from(plain), nonce, PSK));
          let tampered: Envelope13;
          if (field === 'nonce') {
            tampered = { ...env, nonce: (nonce ^ (1 << (at % 32))) >>> 0 };
          } else if (field === 'payload') {
            const bytes = Buffer.from(env.payload, 'base64');
            bytes[at % bytes.length] ^= 1 << (at % 8);
            tampered = { ...env, payload: bytes.toString('base64') };
          } else {
            const mac = Buffer.from(env.mac, 'hex');
            mac[at % 32] ^= 1 << (at % 8);
            tampered = { ...env, mac: mac.toString('hex') };
          }
          expect(open13(tampered, PSK)).toMatchObject({ ok: false, code: 'authentication_failed' });
        },
      ),
      { numRuns: 500 },
    );
  });
});
