/**
 * Production edges: HTTPS beside plain HTTP, rate limits that answer 429 and recover, and alerts
 * that reach a webhook once per cooldown.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
import { post, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import { REDIS_URL, redisPrefix, servicesAvailable } from '../helpers/services.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { sealed } from '../helpers/uploads.js';

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('production edges', () => {
  it('serves HTTPS with a certificate made here, and plain HTTP stays available', async () => {
    const dir = tempDataDir();
    const { cert, key } = selfSignedCertificate(dir);
    const tlsPort = await freePort();
    server = await startServer({
      env: { ECOWATT_TLS_CERT: cert, ECOWATT_TLS_KEY: key, ECOWATT_TLS_PORT: String(tlsPort) },
    });
    expect(server.output()).toContain(`HTTPS: listening on https://127.0.0.1:${tlsPort}`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: tlsPort, path: '/health', ca: execFileSync('cat', [cert]) },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ status: 'healthy' });
    expect((await post(server.url, sealed('tls-plain', 10001))).status).toBe(200);
  });

  it('answers 429 with Retry-After naming the limit, and recovers', async () => {
    server = await startServer({ env: { ECOWATT_RATE_LIMIT_DEVICE: '1/3' } });
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let n = 10001; n < 10007; n++) {
      const res = await post(server.url, sealed('chatty', n));
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    expect(limited?.json.error).toBe('rate_limited');
    expect(limited?.json.message).toContain('per-device');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 1200));
    expect((await post(server.url, sealed('chatty', 10010))).status).toBe(200);
  });

  it('shares one limit between instances through Redis', async () => {
    if (!(await servicesAvailable('redis'))) return;
    const keys = redisPrefix('limits');
    const env = {
      ECOWATT_RATE_LIMIT_DEVICE: '0.2/3',
      ECOWATT_REDIS_URL: REDIS_URL,
      ECOWATT_REDIS_KEY_PREFIX: keys.prefix,
    };
    const [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
    try {
      const statuses: number[] = [];
      for (let n = 10001; n <= 10006; n++) {
        statuses.push((await post((n % 2 ? a : b).url, sealed('shared-limit', n))).status);
      }
      // Three tokens in all, whichever instance takes them.
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await keys.cleanup();
    }
  });

  it('fires a replay-storm alert to the webhook exactly once per cooldown, and lists it', async () => {
    const received: { rule: string; device_id: string }[] = [];
    const hook = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => {
        text += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(text));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
      server = await startServer({
        env: {
          ECOWATT_ALERT_WEBHOOK_URL: url,
          ECOWATT_ALERT_REPLAYS: '3',
          ECOWATT_ALERT_COOLDOWN_SECONDS: '600',
        },
      });
      const env = sealed('victim', 10001);
      expect((await post(server.url, env)).status).toBe(200);
      for (let i = 0; i < 10; i++) expect((await post(server.url, env)).status).toBe(401);
      await eventually(async () => expect(received).toHaveLength(1));
      await new Promise((r) => setTimeout(r, 300));
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ rule: 'replays', device_id: 'victim' });
      await eventually(async () => {
        const listed = await server?.admin('GET', '/api/alerts?device=victim');
        expect(listed?.json.alerts).toHaveLength(1);
      });
    } finally {
      hook.close();
    }
  });
});
