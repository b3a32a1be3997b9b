/**
 * Two server processes on one PostgreSQL (and one Redis, and one Mosquitto): what one instance
 * accepted, every other refuses; concurrent copies of an envelope sent to both → exactly one 200;
 * the outbox is published once, not once per instance.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { mosquittoInstalled, PrivateMosquitto } from '../helpers/mosquitto.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import {
  createSchema,
  REDIS_URL,
  redisPrefix,
  servicesAvailable,
  type TestSchema,
} from '../helpers/services.js';
import { sealed, typicalBatch } from '../helpers/uploads.js';

function pairSuite(name: string, replay: 'database' | 'redis'): void {
  describe(`two instances (${name})`, () => {
    let schema: TestSchema;
    let a: RunningServer;
    let b: RunningServer;
    const keys = redisPrefix('multi');

    beforeAll(async () => {
      schema = await createSchema('multi');
      const env = {
        ECOWATT_DATABASE_URL: schema.url,
        ECOWATT_MQTT_EMBEDDED: 'false',
        ECOWATT_ADMIN_TOKEN: randomBytes(16).toString('hex'),
        ...(replay === 'redis'
          ? {
              ECOWATT_REPLAY_STORE: 'redis',
              ECOWATT_REDIS_URL: REDIS_URL,
              ECOWATT_REDIS_KEY_PREFIX: keys.prefix,
            }
          : {}),
      };
      [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
    });
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await schema?.drop();
      await keys.cleanup();
    });

    it('refuses on one instance what the other accepted', async () => {
      for (let n = 10001; n <= 10006; n++) {
        const [first, second] = n % 2 ? [a, b] : [b, a];
        const env = sealed('twin-dev', n);
        expect((await post(first.url, env)).status, `nonce ${n} first`).toBe(200);
        const again = await post(second.url, env);
        expect(again.status, `nonce ${n} on the other instance`).toBe(401);
        expect(again.json.error).toBe('replayed_nonce');
      }
      // An older nonce is refused on both, whichever accepted the newer one.
      for (const s of [a, b]) expect((await post(s.url, sealed('twin-dev', 10003))).status).toBe(401);
      const device = await b.admin('GET', '/api/devices/twin-dev');
      expect(device.json.counters.uploads).toBe(6);
    });

    it('accepts exactly one of concurrent copies sent to both instances', async () => {
      for (let round = 0; round < 5; round++) {
        const env = sealed(`twin-race-${round}`, 10001);
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => post((i % 2 ? a : b).url, env)),
        );
        expect(
          results.filter((r) => r.status === 200),
          `round ${round}`,
        ).toHaveLength(1);
        expect(results.every((r) => r.status === 200 || r.json.error === 'replayed_nonce')).toBe(true);
      }
      const rows = await schema.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM uploads WHERE device_id LIKE 'twin-race-%'",
      );
      expect(rows[0].n).toBe(5);
    });
  });
}

if (await servicesAvailable('postgres')) {
  pairSuite('replay state in the device row', 'database');

  describe.skipIf(!mosquittoInstalled())('two instances publishing to one Mosquitto', () => {
    let schema: TestSchema;
    let broker: PrivateMosquitto;
    let a: RunningServer;
    let b: RunningServer;
    const prefix = `ecowatt_multi_${randomBytes(3).toString('hex')}`;

    beforeAll(async () => {
      schema = await createSchema('multi_mqtt');
      broker = await PrivateMosquitto.start();
      const env = (client: string) => ({
        ECOWATT_DATABASE_URL: schema.url,
        ECOWATT_MQTT_URL: broker.url,
        ECOWATT_MQTT_CLIENT_ID: client,
        ECOWATT_MQTT_TOPIC_PREFIX: prefix,
        ECOWATT_MQTT_HA_DISCOVERY: 'false',
      });
      a = await startServer({ env: env(`${prefix}-a`) });
      b = await startServer({ env: env(`${prefix}-b`) });
    });
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await broker?.dispose();
      await schema?.drop();
    });

    it('publishes every upload once, whichever instance accepted it', async () => {
      const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
      const seen = new Map<string, number>();
      client.on('message', (_topic, payload) => {
        const msg = JSON.parse(payload.toString()) as { upload_id?: string };
        if (msg.upload_id) seen.set(msg.upload_id, (seen.get(msg.upload_id) ?? 0) + 1);
      });
      await client.subscribeAsync(`${prefix}/+/readings`, { qos: 1 });
      const accepted: string[] = [];
      for (let n = 10001; n <= 10020; n++) {
        // Different readings each time: an identical packet would be a re-send, stored (and published) once.
        const res = await post(
          (n % 2 ? a : b).url,
          sealed(`mq-${n % 4}`, n, { batches: [typicalBatch(n - 10000)] }),
        );
        expect(res.status).toBe(200);
        accepted.push(res.json.upload_id as string);
      }
      await eventually(async () => expect([...seen.keys()].sort()).toEqual([...accepted].sort()), 15_000);
      // Time for any second publication to arrive.
      await new Promise((r) => setTimeout(r, 1500));
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      await client.endAsync();
    });
  });
}
if (await servicesAvailable('postgres', 'redis')) pairSuite('replay state in Redis', 'redis');
