/**
 * Acknowledged means stored: restarts and `kill -9` lose no acknowledged upload and never let a
 * nonce be accepted twice.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/sim/simulator.js';
import { post, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import { sealed } from '../helpers/uploads.js';

let server: RunningServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('durability', () => {
  it('still rejects replays of envelopes accepted before a restart', async () => {
    const dataDir = tempDataDir();
    server = await startServer({ dataDir });
    const envelopes = [10001, 10002, 10003].map((n) => sealed('dev-restart', n));
    for (const e of envelopes) expect((await post(server.url, e)).status).toBe(200);
    expect(await server.stop()).toBe(0);

    server = await startServer({ dataDir });
    for (const e of envelopes) {
      const res = await post(server.url, e);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('replayed_nonce');
    }
    expect((await post(server.url, sealed('dev-restart', 10004))).status).toBe(200);
  });

  it('keeps every acknowledged upload through kill -9 in the middle of a simulator run', async () => {
    const dataDir = tempDataDir();
    server = await startServer({ dataDir });
    const running = server;
    const controller = new AbortController();
    const sim = runSimulation({
      url: running.url,
      devices: 20,
      intervalSeconds: 0.02,
      durationSeconds: 30,
      encrypt: false,
      keepAcknowledged: true,
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 1500));
    await running.kill();
    server = undefined;
    controller.abort();
    const summary = await sim;
    expect(summary.accepted).toBeGreaterThan(50);

    server = await startServer({ dataDir });
    for (const ack of summary.acknowledged) {
      const up = await server.admin('GET', `/api/uploads/${ack.uploadId}`);
      expect(up.status, `upload ${ack.uploadId}`).toBe(200);
      expect(up.json.device_id).toBe(ack.deviceId);
      expect(up.json.nonce).toBe(ack.nonce);
    }
    const db = new Database(path.join(dataDir, 'ecowatt.db'), { readonly: true });
    try {
      const twice = db
        .prepare('SELECT device_id, nonce, count(*) AS n FROM uploads GROUP BY device_id, nonce HAVING n > 1')
        .all();
      expect(twice).toEqual([]);
      const stored = db.prepare('SELECT count(*) AS n FROM uploads').get() as { n: number };
      expect(stored.n).toBeGreaterThanOrEqual(summary.acknowledged.length);
    } finally {
      db.close();
    }
  });
});
