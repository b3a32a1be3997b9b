/**
 * The security checklist's essentials and the durability promises against the real server
 * process on the PostgreSQL profile (`ECOWATT_DATABASE_URL`), with replay state in the device row
 * and in Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { post, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import {
  createSchema,
  REDIS_URL,
  redisPrefix,
  servicesAvailable,
  type TestSchema,
} from '../helpers/services.js';
import { fixture, sealed } from '../helpers/uploads.js';

const e2e =
  fixture<{ id: string; envelope_json: string; polls_register_values_by_address?: number[][] }[]>('e2e.json');
const oneBatch = e2e.find((v) => v.id === 'e2e-one-batch')!;

function profileSuite(name: string, replay: 'database' | 'redis'): void {
  describe(`PostgreSQL profile (${name})`, () => {
    let schema: TestSchema;
    let env: Record<string, string>;
    let server: RunningServer | undefined;
    const keys = redisPrefix('e2e');

    beforeAll(async () => {
      schema = await createSchema('e2e');
      env = {
        ECOWATT_DATABASE_URL: schema.url,
        ECOWATT_MQTT_EMBEDDED: 'false',
        ...(replay === 'redis'
          ? {
              ECOWATT_REPLAY_STORE: 'redis',
              ECOWATT_REDIS_URL: REDIS_URL,
              ECOWATT_REDIS_KEY_PREFIX: keys.prefix,
            }
          : {}),
      };
      server = await startServer({ env });
    });
    afterAll(async () => {
      await server?.stop();
      await schema?.drop();
      await keys.cleanup();
    });

    const running = () => {
      if (!server) throw new Error('server not running');
      return server;
    };

    it('accepts a valid field upload and stores its readings in PostgreSQL', async () => {
      const res = await post(running().url, oneBatch.envelope_json);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status: 'success', device_id: 'ESP32_EcoWatt_Smart', readings: 30 });
      const readings = await running().admin('GET', '/api/devices/ESP32_EcoWatt_Smart/readings?limit=100');
      expect(readings.status).toBe(200);
      const polls = oneBatch.polls_register_values_by_address!;
      const got = readings.json.readings as { reg_id: number; raw: number; quality: string }[];
      expect(got).toHaveLength(30);
      got.forEach((r, i) => {
        const s = Math.floor(i / 6);
        expect(r.reg_id).toBe(BATCH_LAYOUT[i % 6]);
        if (r.quality === 'exact') expect(r.raw).toBe(polls[s][r.reg_id]);
      });
      const rows = await schema.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM uploads WHERE device_id = 'ESP32_EcoWatt_Smart'",
      );
      expect(rows[0].n).toBe(1);
    });

    it('rejects the same envelope sent again', async () => {
      const res = await post(running().url, oneBatch.envelope_json);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('replayed_nonce');
    });

    it('accepts exactly one of 50 concurrent copies of one fresh envelope', async () => {
      const env1 = sealed('pg-race', 10001);
      const results = await Promise.all(Array.from({ length: 50 }, () => post(running().url, env1)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 401 && r.json.error === 'replayed_nonce')).toHaveLength(49);
      const rows = await schema.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM uploads WHERE device_id = 'pg-race'",
      );
      expect(rows[0].n).toBe(1);
    });

    it('still rejects replays after a restart', async () => {
      const envelopes = [10001, 10002, 10003].map((n) => sealed('pg-restart', n));
      for (const e of envelopes) expect((await post(running().url, e)).status).toBe(200);
      expect(await running().stop()).toBe(0);
      server = await startServer({ env });
      for (const e of envelopes) {
        const res = await post(running().url, e);
        expect(res.status).toBe(401);
        expect(res.json.error).toBe('replayed_nonce');
      }
      expect((await post(running().url, sealed('pg-restart', 10004))).status).toBe(200);
    });

    it('keeps every acknowledged upload through kill -9 in the middle of a simulator run', async () => {
      const victim = running();
      const controller = new AbortController();
      const sim = runSimulation({
        url: victim.url,
        devices: 20,
        intervalSeconds: 0.02,
        durationSeconds: 30,
        encrypt: false,
        idPrefix: `kill-${replay}-`,
        keepAcknowledged: true,
        signal: controller.signal,
      });
      await new Promise((r) => setTimeout(r, 1500));
      await victim.kill();
      server = undefined;
      controller.abort();
      const summary = await sim;
      expect(summary.accepted).toBeGreaterThan(50);

      server = await startServer({ env, dataDir: tempDataDir() });
      for (const ack of summary.acknowledged) {
        const up = await running().admin('GET', `/api/uploads/${ack.uploadId}`);
        expect(up.status, `upload ${ack.uploadId}`).toBe(200);
        expect(up.json.device_id).toBe(ack.deviceId);
        expect(up.json.nonce).toBe(ack.nonce);
      }
      const twice = await schema.query(
        'SELECT device_id, nonce, count(*) AS n FROM uploads GROUP BY device_id, nonce HAVING count(*) > 1',
      );
      expect(twice).toEqual([]);
    });
  });
}

if (await servicesAvailable('postgres')) profileSuite('replay state in the device row', 'database');
if (await servicesAvailable('postgres', 'redis')) profileSuite('replay state in Redis', 'redis');
