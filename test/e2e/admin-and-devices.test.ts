import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_KEYS, sealV1 } from '../../src/protocol/envelope-v1.js';
import { buildUploadJson } from '../../src/protocol/upload-json.js';
import { ecowatt } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { sealed, typicalBatch, uploadJson } from '../helpers/uploads.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

const cli = (...args: string[]) => ecowatt(server, ...args);

const keysOf = (k: { hmac_key: string; aes_key: string; iv: string }) => ({
  hmacKey: Buffer.from(k.hmac_key, 'hex'),
  aesKey: Buffer.from(k.aes_key, 'hex'),
  iv: Buffer.from(k.iv, 'hex'),
});

describe('admin API and CLI', () => {
  it('refuses the admin API without the token', async () => {
    const res = await fetch(`${server.url}/api/devices`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('unauthorized');
    const wrong = await fetch(`${server.url}/api/devices`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('manages devices from the CLI, with an audit trail', async () => {
    const added = await cli('device', 'add', 'cli-dev', '--replay', 'window:32');
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).device.policy.replay).toBe('window:32');
    expect((await cli('device', 'add', 'cli-dev')).code).toBe(1);
    const list = await cli('device', 'list');
    expect(list.stdout).toMatch(/cli-dev\tactive\tfleet\twindow:32/);
    expect((await cli('device', 'disable', 'cli-dev', '--reason', 'stolen')).code).toBe(0);
    const refused = await post(server.url, sealed('cli-dev', 10001));
    expect(refused.status).toBe(403);
    expect(refused.json.error).toBe('device_disabled');
    expect((await cli('device', 'enable', 'cli-dev')).code).toBe(0);
    expect((await post(server.url, sealed('cli-dev', 10002))).status).toBe(200);
    const missingReason = await cli('device', 'replay-reset', 'cli-dev');
    expect(missingReason.code).not.toBe(0);
    const audit = await server.admin('GET', '/api/audit?device=cli-dev');
    expect(audit.json.entries.map((e: { action: string }) => e.action)).toEqual([
      'device.enabled',
      'device.disabled',
      'device.added',
    ]);
    const bad = await cli('device', 'show', 'no-such-device');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('not_found');
  });

  it('re-arms a device whose counter was wiped only through an audited reset', async () => {
    expect((await post(server.url, sealed('wiped', 50_000))).status).toBe(200);
    const res = await post(server.url, sealed('wiped', 10001));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('replayed_nonce');
    // Security events are written asynchronously, after the answer.
    await eventually(async () => {
      const events = await server.admin(
        'GET',
        '/api/security-events?device=wiped&code=counter_reset_suspected',
      );
      expect(events.json.events).toHaveLength(1);
    });
    const reset = await cli('device', 'replay-reset', 'wiped', '--reason', 'flash replaced on site visit');
    expect(reset.code, reset.stderr).toBe(0);
    expect((await post(server.url, sealed('wiped', 10001))).status).toBe(200);
    expect((await post(server.url, sealed('wiped', 10001))).status).toBe(401);
    const audit = await server.admin('GET', '/api/audit?device=wiped');
    expect(audit.json.entries[0]).toMatchObject({
      action: 'replay.reset',
      reason: 'flash replaced on site visit',
    });
  });

  it('uses per-device keys, rotates them and retires the old key once the new one is used', async () => {
    const added = await server.admin('POST', '/api/devices', { id: 'keyed', with_key: true });
    expect(added.status).toBe(201);
    const k1 = keysOf(added.json.key);
    const named = { 'content-type': 'application/json', 'x-device-id': 'keyed' };
    const body = (nonce: number, keys: ReturnType<typeof keysOf>) =>
      sealed('keyed', nonce, { keys, encrypt: true });
    expect((await post(server.url, body(10001, k1), named)).status).toBe(200);
    // The public fleet key no longer speaks for this device, named or not.
    expect((await post(server.url, sealed('keyed', 10002), named)).status).toBe(401);
    const unnamed = await post(server.url, sealed('keyed', 10002));
    expect(unnamed.status).toBe(401);
    expect(unnamed.json.error).toBe('authentication_failed');

    const rotated = await server.admin('POST', '/api/devices/keyed/keys', { reason: 'yearly' });
    expect(rotated.status).toBe(201);
    const k2 = keysOf(rotated.json.key);
    expect((await server.admin('POST', '/api/devices/keyed/keys', {})).status).toBe(409);
    expect((await post(server.url, body(10002, k1), named)).status).toBe(200);
    expect((await post(server.url, body(10003, k2), named)).status).toBe(200);
    const after = await server.admin('GET', '/api/devices/keyed');
    expect(after.json.keys.map((k: { kid: string; status: string }) => `${k.kid}:${k.status}`)).toEqual([
      'k1:retired',
      'k2:active',
    ]);
    expect(JSON.stringify(after.json)).not.toContain(rotated.json.key.hmac_key);
    expect((await post(server.url, body(10004, k1), named)).status).toBe(401);
    expect((await post(server.url, body(10005, k2), named)).status).toBe(200);
  });

  it('enforces encryption when the policy requires it', async () => {
    expect((await post(server.url, sealed('must-enc', 10001))).status).toBe(200);
    const patched = await server.admin('PATCH', '/api/devices/must-enc/policy', { require_encryption: true });
    expect(patched.json.policy.require_encryption).toBe(true);
    const plain = await post(server.url, sealed('must-enc', 10002));
    expect(plain.status).toBe(403);
    expect(plain.json.error).toBe('encryption_required');
    expect((await post(server.url, sealed('must-enc', 10003, { encrypt: true }))).status).toBe(200);
  });

  it('quarantines an undecodable packet, keeps its bytes and still acknowledges the upload', async () => {
    const good = JSON.parse(uploadJson('quar', [typicalBatch()])) as { compressed_data: unknown[] };
    const junk = Uint8Array.from([0x42, 1, 2, 3, 4, 5, 6]);
    const doc = JSON.parse(
      buildUploadJson({
        deviceId: 'quar',
        timestamp: 30_000,
        packets: [
          {
            bytes: junk,
            label: 'BATCH_BITPACK',
            timestamp: 29_000,
            compressionTimeUs: 1,
            registerLayout: [0, 1, 5, 9, 6, 7],
          },
        ],
        usage: { dictionary: 0, temporal: 0, semantic: 0, bitpack: 1 },
      }),
    ) as { compressed_data: unknown[] };
    doc.compressed_data.unshift(good.compressed_data[0]);
    const res = await post(
      server.url,
      sealV1(Buffer.from(JSON.stringify(doc)), { nonce: 10001, keys: FIELD_KEYS }),
    );
    expect(res.status).toBe(200);
    expect(res.json.packets).toBe(2);
    expect(res.json.readings).toBe(30);
    expect(res.json.quarantined).toHaveLength(1);
    expect(res.json.quarantined[0].index).toBe(1);
    const upload = await server.admin('GET', `/api/uploads/${res.json.upload_id}`);
    expect(upload.json.packets[1]).toMatchObject({
      status: 'quarantined',
      bytes: Buffer.from(junk).toString('base64'),
    });
    await eventually(async () => {
      const events = await server.admin('GET', '/api/security-events?device=quar&code=packet_quarantined');
      expect(events.json.events).toHaveLength(1);
    });
  });

  it('pages readings with a cursor and validates parameters', async () => {
    let nonce = 10001;
    for (let i = 0; i < 3; i++) {
      expect(
        (await post(server.url, sealed('pager', nonce++, { batches: [typicalBatch(i * 10)] }))).status,
      ).toBe(200);
    }
    const seen: string[] = [];
    let next: string | null = null;
    do {
      const q: string = `/api/devices/pager/readings?limit=7&register=Vac1,PAC${next ? `&cursor=${next}` : ''}`;
      const page = await server.admin('GET', q);
      expect(page.status).toBe(200);
      for (const r of page.json.readings) seen.push(`${r.time}/${r.register}/${r.raw}/${r.upload}`);
      next = page.json.next;
    } while (next);
    expect(seen).toHaveLength(30); // 3 uploads × 5 samples × 2 registers
    expect(new Set(seen).size).toBe(30);
    const latest = await server.admin('GET', '/api/devices/pager/latest');
    expect(latest.json.readings.find((r: { register: string }) => r.register === 'Pac')).toMatchObject({
      unit: 'W',
    });
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['from=yesterday', 'from'],
      ['register=Volts', 'register'],
      ['cursor=%%%', 'cursor'],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
    ]) {
      const res = await server.admin('GET', `/api/devices/pager/readings?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.error).toBe('invalid_parameter');
      expect(res.json.details.field).toBe(field);
    }
    expect((await server.admin('GET', '/api/devices/nobody/readings')).status).toBe(404);
    expect((await server.admin('GET', '/api/uploads/abc')).status).toBe(404);
  });
});
