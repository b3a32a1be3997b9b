/**
 * Protocol v2 devices beside field (v1) devices: provisioning, uploads, replays under another
 * identity, key rotation and retirement, tampering.
 */
import { createDecipheriv } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveV2Keys, sealV2 } from '../../src/protocol/envelope-v2.js';
import { v2ResponseMac } from '../../src/protocol/v2-response.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { sealed, uploadJson } from '../helpers/uploads.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function provision(id: string): Promise<{ deviceId: string; kid: string; key: Buffer }> {
  const res = await server.admin('POST', '/api/devices', { id, key_kind: 'v2' });
  expect(res.status).toBe(201);
  expect(res.json.key.kind).toBe('v2');
  return { deviceId: id, kid: res.json.key.kid, key: Buffer.from(res.json.key.key, 'hex') };
}

const v2Upload = (id: { deviceId: string; kid: string; key: Buffer }, nonce: number, encrypt = true) =>
  sealV2(
    Buffer.from(
      uploadJson(id.deviceId, [
        [
          2429, 177, 73, 4331, 70, 605, 2430, 176, 74, 4334, 70, 604, 2431, 175, 73, 4337, 70, 603, 2432, 174,
          74, 4340, 70, 602, 2433, 173, 73, 4343, 70, 601,
        ],
      ]),
    ),
    {
      deviceId: id.deviceId,
      kid: id.kid,
      key: id.key,
      nonce,
      encrypt,
    },
  );

describe('protocol v2', () => {
  it('runs v1 and v2 devices side by side, v2 data lossless (0xE1)', async () => {
    const v2 = [await provision('v2-a'), await provision('v2-b')];
    const summary = await runSimulation({
      url: server.url,
      devices: 2,
      v2Devices: v2,
      intervalSeconds: 0.01,
      uploadsPerDevice: 5,
      encrypt: true,
      keepAcknowledged: true,
    });
    expect(summary.accepted).toBe(20);
    expect(summary.rejected).toEqual({});
    for (const ack of summary.acknowledged.filter((a) => a.deviceId.startsWith('v2-'))) {
      const up = await server.admin('GET', `/api/uploads/${ack.uploadId}`);
      expect(up.json.protocol).toBe('v2');
      expect(up.json.packets.every((p: { method: string }) => p.method === 'lossless_e1')).toBe(true);
    }
    const readings = await server.admin('GET', '/api/devices/v2-a/readings?limit=10000');
    expect(readings.json.readings.length).toBeGreaterThan(0);
    expect(readings.json.readings.every((r: { quality: string }) => r.quality === 'exact')).toBe(true);
  });

  it('keeps device keys sealed at rest, never in clear in the database', async () => {
    const id = await provision('v2-sealed');
    const db = new Database(path.join(server.dataDir, 'ecowatt.db'), { readonly: true });
    try {
      const row = db.prepare("SELECT hmac_key FROM device_keys WHERE device_id = 'v2-sealed'").get() as {
        hmac_key: string;
      };
      expect(row.hmac_key).not.toContain(id.key.toString('hex'));
      expect(row.hmac_key.startsWith('gcm1:')).toBe(true);
    } finally {
      db.close();
    }
  });

  it('refuses a v2 envelope replayed under another device id or key id, and any mutation', async () => {
    const a = await provision('v2-c');
    const b = await provision('v2-d');
    const env = JSON.parse(v2Upload(a, 1)) as Record<string, unknown>;
    expect((await post(server.url, JSON.stringify(env))).status).toBe(200);
    expect((await post(server.url, JSON.stringify(env))).json.error).toBe('replayed_nonce');
    const asOther = await post(server.url, JSON.stringify({ ...env, device_id: b.deviceId, nonce: 2 }));
    expect(asOther.status).toBe(401);
    const otherKid = await post(server.url, JSON.stringify({ ...env, kid: 'k9', nonce: 3 }));
    expect(otherKid.status).toBe(401);
    const fresh = JSON.parse(v2Upload(a, 4)) as Record<string, string | number>;
    const mutations: Record<string, unknown>[] = [
      { ...fresh, nonce: 5 },
      // A different first character (the ciphertext is random: it may already start with 'A').
      { ...fresh, payload: String(fresh.payload).replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
      { ...fresh, iv: Buffer.alloc(16, 1).toString('base64') },
      { ...fresh, mac: String(fresh.mac).replace(/^./, (c) => (c === '0' ? '1' : '0')) },
    ];
    for (const m of mutations) {
      const res = await post(server.url, JSON.stringify(m));
      expect(res.status, JSON.stringify(m).slice(0, 80)).toBe(401);
      expect(res.json.error).toBe('authentication_failed');
    }
    expect((await post(server.url, JSON.stringify(fresh))).status).toBe(200);
  });

  it('signs every answer to a v2 device with a MAC bound to its request nonce and the status', async () => {
    const id = await provision('v2-signed');
    const macKey = deriveV2Keys(id.key).macKey;
    const check = async (nonce: number, expectStatus: number) => {
      const res = await fetch(`${server.url}/process`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: v2Upload(id, nonce),
      });
      const text = await res.text();
      expect(res.status).toBe(expectStatus);
      const ctx = { macKey, deviceId: id.deviceId, kid: id.kid, nonce };
      expect(res.headers.get('x-ecowatt-mac')).toBe(v2ResponseMac(ctx, res.status, text));
      expect(res.headers.get('x-ecowatt-mac')).not.toBe(
        v2ResponseMac({ ...ctx, nonce: nonce + 1 }, res.status, text),
      );
    };
    await check(1, 200);
    await check(1, 401);
    // A field (v1) device gets no such header.
    const plain = await post(server.url, sealed('v1-unsigned', 10001));
    expect(plain.headers.get('x-ecowatt-mac')).toBeNull();
  });

  it('delivers a rotated key through the authenticated /changes answer; the device switches; the old key retires', async () => {
    const k1 = await provision('v2-deliver');
    expect((await post(server.url, v2Upload(k1, 1))).status).toBe(200);
    const rotated = await server.admin('POST', '/api/devices/v2-deliver/keys', { reason: 'yearly' });
    expect(rotated.status).toBe(201);
    const request = sealV2(Buffer.from(JSON.stringify({ device_id: 'v2-deliver', timestamp: 5000 })), {
      deviceId: k1.deviceId,
      kid: k1.kid,
      key: k1.key,
      nonce: 2,
      encrypt: true,
    });
    const res = await fetch(`${server.url}/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: request,
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    // The device checks the answer before trusting anything in it.
    const ctx = { macKey: deriveV2Keys(k1.key).macKey, deviceId: k1.deviceId, kid: k1.kid, nonce: 2 };
    expect(res.headers.get('x-ecowatt-mac')).toBe(v2ResponseMac(ctx, 200, text));
    const answer = JSON.parse(text) as {
      Changed: boolean;
      new_key: { kid: string; key: string; iv: string };
    };
    expect(answer).toHaveProperty('Changed');
    const decipher = createDecipheriv(
      'aes-128-cbc',
      deriveV2Keys(k1.key).encKey,
      Buffer.from(answer.new_key.iv, 'base64'),
    );
    const newKey = Buffer.concat([
      decipher.update(Buffer.from(answer.new_key.key, 'base64')),
      decipher.final(),
    ]);
    expect(newKey.toString('hex')).toBe(rotated.json.key.key);
    const k2 = { deviceId: k1.deviceId, kid: answer.new_key.kid, key: newKey };
    expect((await post(server.url, v2Upload(k2, 3))).status).toBe(200);
    expect((await post(server.url, v2Upload(k1, 4))).status).toBe(401);
    const audit = await server.admin('GET', '/api/audit?device=v2-deliver');
    expect(audit.json.entries.map((e: { action: string }) => e.action)).toContain('key.retired');
  });

  it('loses no upload while keys rotate under load', async () => {
    const ids = [await provision('v2-load-a'), await provision('v2-load-b')];
    const sim = runSimulation({
      url: server.url,
      devices: 2,
      v2Devices: ids,
      idPrefix: 'rotating',
      intervalSeconds: 0.02,
      uploadsPerDevice: 25,
      encrypt: true,
    });
    await new Promise((r) => setTimeout(r, 150));
    for (const id of ids)
      expect((await server.admin('POST', `/api/devices/${id.deviceId}/keys`, {})).status).toBe(201);
    const summary = await sim;
    expect(summary.rejected, JSON.stringify(summary)).toEqual({});
    expect(summary.transportErrors).toBe(0);
    expect(summary.accepted).toBe(summary.sent);
    expect(summary.accepted).toBeGreaterThanOrEqual(90);
  });

  it('refuses v1 and unsecured requests from a device whose policy requires v2', async () => {
    const id = await provision('v2-only');
    expect((await post(server.url, sealed('v2-only', 10001))).status).toBe(401); // its own key, not the fleet's
    const patched = await server.admin('PATCH', '/api/devices/v2-only/policy', {
      require_v2: true,
      allow_unsecured: true,
    });
    expect(patched.json.policy.require_v2).toBe(true);
    const bare = await post(
      server.url,
      uploadJson('v2-only', [
        [
          2429, 177, 73, 4331, 70, 605, 2429, 177, 73, 4331, 70, 605, 2429, 177, 73, 4331, 70, 605, 2429, 177,
          73, 4331, 70, 605, 2429, 177, 73, 4331, 70, 605,
        ],
      ]),
    );
    expect(bare.status).toBe(403);
    expect(bare.json.error).toBe('v2_required');
    expect((await post(server.url, v2Upload(id, 1))).status).toBe(200);
  });

  it('rotates a v2 key: both work until the new one is used; a retired key is refused', async () => {
    const k1 = await provision('v2-rot');
    expect((await post(server.url, v2Upload(k1, 1))).status).toBe(200);
    const rotated = await server.admin('POST', '/api/devices/v2-rot/keys', { reason: 'test' });
    expect(rotated.json.key.kind).toBe('v2');
    const k2 = {
      deviceId: 'v2-rot',
      kid: rotated.json.key.kid,
      key: Buffer.from(rotated.json.key.key, 'hex'),
    };
    expect((await post(server.url, v2Upload(k1, 2))).status).toBe(200);
    expect((await post(server.url, v2Upload(k2, 3))).status).toBe(200);
    const res = await post(server.url, v2Upload(k1, 4));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('authentication_failed');
  });
});
