import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { AlertEngine, type AlertSettings } from '../../../src/alerts/alert-engine.js';
import { SecurityEvents } from '../../../src/observability/security-events.js';
import type { SecurityEvent } from '../../../src/ports/storage.js';

const settings = (webhookUrl?: string): AlertSettings => ({
  webhookUrl,
  cooldownMs: 60_000,
  windowMs: 10_000,
  macFailures: 3,
  replays: 3,
  silentIntervals: 4,
  uploadIntervalMs: 15_000,
});

const ev = (code: string, time: number, deviceId = 'd1'): SecurityEvent => ({
  time,
  deviceId,
  code,
  reason: 'x',
  source: '10.0.0.1',
  nonce: 1,
  requestId: null,
});

describe('AlertEngine', () => {
  it('fires once per cooldown when rejections pass the threshold within the window, and posts the webhook', async () => {
    const received: unknown[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 16 });
    const log = pino({ level: 'silent' });
    const engine = new AlertEngine(settings(url), storage, new SecurityEvents(storage, log), log);
    try {
      engine.observe(ev('replayed_nonce', 1000));
      engine.observe(ev('replayed_nonce', 2000));
      expect(received).toHaveLength(0);
      engine.observe(ev('replayed_nonce', 3000)); // third within 10 s: fires
      for (let t = 4000; t < 50_000; t += 1000) engine.observe(ev('replayed_nonce', t)); // cooldown
      engine.observe(ev('replayed_nonce', 70_000));
      engine.observe(ev('replayed_nonce', 72_000));
      engine.observe(ev('replayed_nonce', 74_000)); // after the cooldown: fires again
      engine.observe(ev('authentication_failed', 1000, 'd2'));
      engine.observe(ev('authentication_failed', 20_000, 'd2'));
      engine.observe(ev('authentication_failed', 40_000, 'd2')); // spread out: never 3 in 10 s
      await engine.stop();
      expect(received).toHaveLength(2);
      expect(received[0]).toMatchObject({ rule: 'replays', device_id: 'd1' });
      await new Promise((r) => setTimeout(r, 20));
      const stored = await storage.listSecurityEvents({ code: 'alert', limit: 10 });
      expect(stored.map((e) => e.reason)).toEqual(['replays', 'replays']);
    } finally {
      hook.close();
      await storage.close();
    }
  });

  it('alerts on a suspected counter reset and on silent devices', async () => {
    const storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 16 });
    let now = 1_000_000;
    const log = pino({ level: 'silent' });
    const engine = new AlertEngine(settings(), storage, new SecurityEvents(storage, log), log, () => now);
    try {
      engine.observe(ev('counter_reset_suspected', now));
      await storage.commitUpload({
        deviceId: 'quiet',
        registerWith: { allowUnsecured: true, requireEncryption: false, replay: { kind: 'strict' } },
        nonce: null,
        counterResetThreshold: 1000,
        initialHigh: 10000,
        keyKid: null,
        protocol: 'unsecured',
        generation: 'e84f720',
        encrypted: false,
        receivedAt: now,
        source: 'x',
        requestId: 'r',
        deviceTimestamp: null,
        packets: [],
      });
      await engine.checkSilence();
      now += 61_000;
      await engine.checkSilence();
      await engine.checkSilence();
      await new Promise((r) => setTimeout(r, 20));
      const stored = await storage.listSecurityEvents({ code: 'alert', limit: 10 });
      expect(stored.map((e) => `${e.reason}:${e.deviceId}`).sort()).toEqual([
        'counter_reset_suspected:d1',
        'device_silent:quiet',
      ]);
    } finally {
      await storage.close();
    }
  });
});
