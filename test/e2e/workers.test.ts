/**
 * `ecowatt serve --workers N`: several processes behind one port, sharing PostgreSQL; and the
 * refusal to run them on the single-process embedded defaults.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { createSchema, servicesAvailable, type TestSchema } from '../helpers/services.js';
import { sealed } from '../helpers/uploads.js';

describe('--workers with the embedded defaults', () => {
  it('refuses to start, naming what is needed', async () => {
    await expect(startServer({ env: { ECOWATT_WORKERS: '2' } })).rejects.toThrow(/ECOWATT_DATABASE_URL/);
  });
});

if (await servicesAvailable('postgres')) {
  describe('--workers 2 on PostgreSQL', () => {
    let schema: TestSchema;
    let server: RunningServer;

    beforeAll(async () => {
      schema = await createSchema('workers');
      server = await startServer({
        env: {
          ECOWATT_WORKERS: '2',
          ECOWATT_DATABASE_URL: schema.url,
          ECOWATT_MQTT_EMBEDDED: 'false',
          ECOWATT_ADMIN_TOKEN: randomBytes(16).toString('hex'),
        },
      });
    });
    afterAll(async () => {
      await server?.stop();
      await schema?.drop();
    });

    it('accepts uploads on the shared port and exactly one of many concurrent copies', async () => {
      for (let n = 10001; n <= 10010; n++)
        expect((await post(server.url, sealed('w-dev', n))).status).toBe(200);
      const env = sealed('w-race', 10001);
      const results = await Promise.all(Array.from({ length: 40 }, () => post(server.url, env)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 401)).toHaveLength(39);
      const rows = await schema.query<{ n: string }>(
        "SELECT count(*) AS n FROM uploads WHERE device_id = 'w-dev'",
      );
      expect(Number(rows[0].n)).toBe(10);
    });
  });
}
