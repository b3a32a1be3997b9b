/**
 * The field team's security checklist, automated against the real server process over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { fixture, padJsonTo16, sealed, typicalBatch, uploadJson } from '../helpers/uploads.js';

const e2e =
  fixture<{ id: string; envelope_json: string; polls_register_values_by_address?: number[][] }[]>('e2e.json');
const oneBatch = e2e.find((v) => v.id === 'e2e-one-batch')!;

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('POST /process: the field security checklist', () => {
  it('accepts a valid secured upload from the field firmware and stores correct readings', async () => {
    const res = await post(server.url, oneBatch.envelope_json);
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('success');
    expect(res.json.device_id).toBe('ESP32_EcoWatt_Smart');
    expect(res.json.packets).toBe(1);
    expect(res.json.samples).toBe(5);
    expect(res.json.readings).toBe(30);

    const polls = oneBatch.polls_register_values_by_address!;
    const readings = await server.admin('GET', '/api/devices/ESP32_EcoWatt_Smart/readings?limit=100');
    expect(readings.status).toBe(200);
    const got = readings.json.readings as { reg_id: number; raw: number; quality: string; value: number }[];
    expect(got).toHaveLength(30);
    // Sample-major: sample s, register j of the fixed batch layout.
    got.forEach((r, i) => {
      const s = Math.floor(i / 6);
      const reg = BATCH_LAYOUT[i % 6];
      expect(r.reg_id).toBe(reg);
      if (r.quality === 'exact') expect(r.raw).toBe(polls[s][reg]);
    });
    const vac = got.find((r) => r.reg_id === 0 && r.quality === 'exact');
    expect(vac?.value).toBeCloseTo(polls[0][0] / 10, 5);
  });

  it('rejects the same envelope sent again', async () => {
    const res = await post(server.url, oneBatch.envelope_json);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('replayed_nonce');
  });

  it('rejects a tampered payload carrying the old MAC', async () => {
    const env = JSON.parse(sealed('dev-tamper', 20001)) as { payload: string };
    const plaintext = Buffer.from(env.payload, 'base64').toString().replace('dev-tamper', 'dev-tampex');
    const forged = { ...env, payload: Buffer.from(plaintext).toString('base64') };
    const res = await post(server.url, JSON.stringify(forged));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('authentication_failed');
  });

  it('rejects an older nonce', async () => {
    expect((await post(server.url, sealed('dev-old', 10010))).status).toBe(200);
    const res = await post(server.url, sealed('dev-old', 10009));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('replayed_nonce');
  });

  for (const field of ['nonce', 'payload', 'mac']) {
    it(`rejects an envelope without ${field}`, async () => {
      const env = JSON.parse(sealed('dev-missing', 10001)) as Record<string, unknown>;
      delete env[field];
      const res = await post(server.url, JSON.stringify(env));
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('missing_security_fields');
    });
  }

  it('refuses unsecured uploads unless the device policy allows them', async () => {
    const bare = uploadJson('dev-bare', [typicalBatch()]);
    const refused = await post(server.url, bare);
    expect(refused.status).toBe(403);
    expect(refused.json.error).toBe('unsecured_not_allowed');

    const added = await server.admin('POST', '/api/devices', { id: 'dev-bare', allow_unsecured: true });
    expect(added.status).toBe(201);
    const accepted = await post(server.url, bare);
    expect(accepted.status).toBe(200);
    expect(accepted.json.readings).toBe(30);
  });

  it('accepts encrypted uploads whose plaintext length is and is not a multiple of 16', async () => {
    const base = uploadJson('dev-enc', [typicalBatch()]);
    let nonce = 10001;
    for (const mod of [0, 1, 7, 15]) {
      const json = padJsonTo16(base, mod);
      expect(Buffer.byteLength(json) % 16).toBe(mod);
      const res = await post(server.url, sealed('dev-enc', nonce++, { json, encrypt: true }));
      expect(res.status, `length ≡ ${mod} (mod 16)`).toBe(200);
    }
    const dev = await server.admin('GET', '/api/devices/dev-enc');
    expect(dev.json.counters.uploads).toBe(4);
  });

  it('answers bad input with the documented 4xx, never a 500', async () => {
    const env = JSON.parse(sealed('dev-bad', 10001)) as Record<string, unknown>;
    const cases: [string, string | Buffer, Record<string, string>, number, string][] = [
      [
        'bad base64',
        JSON.stringify({ ...env, payload: '!!!not base64!!!' }),
        {},
        401,
        'authentication_failed',
      ],
      ['bad hex mac', JSON.stringify({ ...env, mac: 'zz'.repeat(32) }), {}, 401, 'authentication_failed'],
      ['short mac', JSON.stringify({ ...env, mac: 'abcd' }), {}, 401, 'authentication_failed'],
      ['string nonce', JSON.stringify({ ...env, nonce: '10001' }), {}, 400, 'malformed_envelope'],
      ['float nonce', JSON.stringify({ ...env, nonce: 10001.5 }), {}, 400, 'malformed_envelope'],
      ['negative nonce', JSON.stringify({ ...env, nonce: -1 }), {}, 400, 'malformed_envelope'],
      ['huge nonce', JSON.stringify({ ...env, nonce: 2 ** 32 }), {}, 400, 'malformed_envelope'],
      ['garbage JSON', '{"nonce": 1, "payload', {}, 400, 'malformed_json'],
      ['empty body', '', {}, 400, 'malformed_json'],
      ['JSON array', '[1,2,3]', {}, 400, 'malformed_payload'],
      [
        'oversized body',
        JSON.stringify({ ...env, pad: 'x'.repeat(70 * 1024) }),
        {},
        413,
        'payload_too_large',
      ],
      [
        'wrong content type',
        JSON.stringify(env),
        { 'content-type': 'text/plain' },
        415,
        'unsupported_media_type',
      ],
      [
        'form content type',
        'a=b',
        { 'content-type': 'application/x-www-form-urlencoded' },
        415,
        'unsupported_media_type',
      ],
    ];
    for (const [name, body, headers, status, code] of cases) {
      const res = await post(server.url, body, { 'content-type': 'application/json', ...headers });
      expect(res.status, name).toBe(status);
      expect(res.json.error, name).toBe(code);
      expect(typeof res.json.message, name).toBe('string');
      expect(typeof res.json.request_id, name).toBe('string');
    }
  });

  it('accepts a JSON body sent without any content type, as some field clients do', async () => {
    // A Buffer body makes fetch send no Content-Type at all.
    const res = await post(server.url, Buffer.from(sealed('dev-notype', 10001)), {});
    expect(res.status).toBe(200);
  });

  it('keeps independent nonce sequences for two devices on the fleet key', async () => {
    for (let n = 10001; n <= 10003; n++) {
      expect((await post(server.url, sealed('fleet-a', n))).status).toBe(200);
      expect((await post(server.url, sealed('fleet-b', n))).status).toBe(200);
    }
    const a = await server.admin('GET', '/api/devices/fleet-a');
    const b = await server.admin('GET', '/api/devices/fleet-b');
    expect(a.json.last_nonce).toBe(10003);
    expect(b.json.last_nonce).toBe(10003);
  });

  it('accepts exactly one of 50 concurrent copies of one fresh envelope', async () => {
    const env = sealed('dev-race', 10001);
    const results = await Promise.all(Array.from({ length: 50 }, () => post(server.url, env)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(49);
    expect(results.every((r) => r.status === 200 || r.json.error === 'replayed_nonce')).toBe(true);
  });

  it('records every rejection as a security event', async () => {
    const events = await server.admin('GET', '/api/security-events?limit=1000');
    expect(events.status).toBe(200);
    const codes = new Set((events.json.events as { code: string }[]).map((e) => e.code));
    for (const c of [
      'replayed_nonce',
      'authentication_failed',
      'missing_security_fields',
      'unsecured_not_allowed',
    ]) {
      expect(codes).toContain(c);
    }
  });
});
