/**
 * Behind a real load balancer: the client address comes from X-Forwarded-For only when the peer
 * is a trusted proxy, and the reference deployment (deploy/nginx) balances a fleet over two
 * instances on PostgreSQL + Redis, one of which is killed mid-run.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/sim/simulator.js';
import { loopbackAddresses } from '../../src/sim/transport.js';
import { eventually } from '../helpers/eventually.js';
import { PrivateNginx, runNginxTests } from '../helpers/nginx.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import {
  createSchema,
  REDIS_URL,
  redisPrefix,
  servicesAvailable,
  type TestSchema,
} from '../helpers/services.js';
import { sealed } from '../helpers/uploads.js';

interface EventView {
  code: string;
  device_id: string | null;
  source: string | null;
}

describe('X-Forwarded-For', () => {
  const servers: RunningServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('names the client from a trusted proxy only; from any other peer the header is ignored', async () => {
    const [trusting, other] = await Promise.all([
      startServer({ env: { ECOWATT_TRUST_PROXY: '127.0.0.0/8' } }),
      startServer({ env: { ECOWATT_TRUST_PROXY: '10.9.9.9' } }),
    ]);
    servers.push(trusting, other);
    const headers = { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' };
    for (const s of [trusting, other]) {
      const upload = sealed('xff-dev', 10001);
      expect((await post(s.url, upload, headers)).status).toBe(200);
      expect((await post(s.url, upload, headers)).json.error).toBe('replayed_nonce');
    }
    const sourceOn = async (s: RunningServer) => {
      const { json } = await s.admin('GET', '/api/security-events?device=xff-dev&code=replayed_nonce');
      return (json.events as EventView[]).map((e) => e.source);
    };
    // Events are stored behind the answer.
    await eventually(async () => expect(await sourceOn(trusting)).toEqual(['203.0.113.7']));
    await eventually(async () => expect(await sourceOn(other)).toEqual(['127.0.0.1']));
  });

  it('refuses to start with a trusted proxy that is not an address or a CIDR, naming the setting', async () => {
    await expect(startServer({ env: { ECOWATT_TRUST_PROXY: '10.0.0.0/40' } })).rejects.toThrow(
      /ECOWATT_TRUST_PROXY/,
    );
  });
});

if (runNginxTests() && (await servicesAvailable('postgres', 'redis'))) {
  describe('behind nginx (deploy/nginx), two instances on PostgreSQL + Redis', () => {
    let schema: TestSchema;
    const keys = redisPrefix('lb');
    let a: RunningServer;
    let b: RunningServer;
    let nginx: PrivateNginx;

    beforeAll(async () => {
      schema = await createSchema('lb');
      const env = {
        ECOWATT_DATABASE_URL: schema.url,
        ECOWATT_REPLAY_STORE: 'redis',
        ECOWATT_REDIS_URL: REDIS_URL,
        ECOWATT_REDIS_KEY_PREFIX: keys.prefix,
        ECOWATT_MQTT_EMBEDDED: 'false',
        ECOWATT_ADMIN_TOKEN: randomBytes(16).toString('hex'),
        // nginx connects from loopback; the devices' own addresses are 127.1.x.y.
        ECOWATT_TRUST_PROXY: '127.0.0.1',
      };
      [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
      nginx = await PrivateNginx.start([a.port, b.port]);
    });
    afterAll(async () => {
      await nginx?.stop();
      await Promise.all([a?.stop(), b?.stop()]);
      await schema?.drop();
      await keys.cleanup();
    });

    it('serves people over TLS with the reference certificate setup', async () => {
      // Self-signed here: only the test trusts it.
      const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
      try {
        const res = await fetch(`${nginx.httpsUrl}/ready`);
        expect(res.status).toBe(200);
      } finally {
        if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
      }
    });

    it('keeps a fleet going when one instance is killed: nothing acknowledged lost or doubled, no replay accepted, events name the devices', async () => {
      const devices = 30;
      const addresses = loopbackAddresses(devices);
      const killer = setTimeout(() => void a.kill(), 3000);
      const summary = await runSimulation({
        url: nginx.httpUrl,
        devices,
        intervalSeconds: 0.25,
        durationSeconds: 8,
        encrypt: false,
        idPrefix: 'lb',
        keepAcknowledged: true,
        sourceAddresses: addresses,
        misbehave: { replay: 0.05 },
      });
      clearTimeout(killer);

      const valid = summary.byIntent.valid ?? { sent: 0, outcomes: {}, unexpected: 0 };
      expect(valid.sent).toBeGreaterThan(500);
      // The uploads in flight on the killed instance: a few, not a stream of failures.
      const failed = valid.sent - (valid.outcomes['200'] ?? 0);
      expect(failed, JSON.stringify(valid.outcomes)).toBeLessThanOrEqual(10);
      expect(summary.byIntent.replay?.outcomes['200'] ?? 0).toBe(0);
      expect(summary.byIntent.replay?.sent ?? 0).toBeGreaterThan(0);

      const stored = await schema.query<{ device_id: string; nonce: number; n: number }>(
        "SELECT device_id, nonce::float8 AS nonce, count(*)::int AS n FROM uploads WHERE device_id LIKE 'lb-%' GROUP BY 1, 2",
      );
      expect(stored.filter((r) => r.n > 1)).toEqual([]);
      const have = new Set(stored.map((r) => `${r.device_id}/${r.nonce}`));
      const lost = summary.acknowledged.filter((u) => !have.has(`${u.deviceId}/${u.nonce}`));
      expect(lost).toEqual([]);
      expect(summary.acknowledged.length).toBe(valid.outcomes['200']);

      // The replays were refused with the device's own address, not nginx's.
      // One event per refused replay, stored behind the answer: a replay the killed instance
      // answered in its last moment may have lost its event with it (kill -9), never more than
      // the few requests in flight then, and no event is ever made up.
      const replays = summary.byIntent.replay?.outcomes['401 replayed_nonce'] ?? 0;
      expect(replays).toBeGreaterThan(0);
      let events: EventView[] = [];
      await eventually(async () => {
        const { json } = await b.admin('GET', '/api/security-events?code=replayed_nonce&limit=1000');
        events = (json.events as EventView[]).filter((e) => e.device_id?.startsWith('lb-'));
        expect(events.length).toBeLessThanOrEqual(replays);
        expect(replays - events.length, 'refused replays without an event').toBeLessThanOrEqual(2);
      });
      for (const e of events) {
        const index = Number(e.device_id?.slice(3)) - 1;
        expect(e.source, e.device_id ?? '').toBe(addresses[index]);
      }
    }, 60_000);
  });
}
