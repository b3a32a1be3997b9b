/** Start-up refuses unsafe or invalid settings with a message naming the setting. */
import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server-process.js';

describe('server start-up', () => {
  it('refuses the well-known fleet key in production mode', async () => {
    await expect(startServer({ env: { ECOWATT_MODE: 'production' } })).rejects.toThrow(
      /well-known fleet key/,
    );
  });

  it('names a bad setting', async () => {
    await expect(startServer({ env: { ECOWATT_PORT: 'http' } })).rejects.toThrow(/ECOWATT_PORT/);
    await expect(startServer({ env: { ECOWATT_REPLAY_MODE: 'loose' } })).rejects.toThrow(
      /ECOWATT_REPLAY_MODE/,
    );
  });

  it('starts in production mode with a configured key and hides it from the output', async () => {
    const key = 'ab'.repeat(32);
    const server = await startServer({
      env: { ECOWATT_MODE: 'production', ECOWATT_FLEET_HMAC_KEY: key, ECOWATT_MASTER_KEY: 'cd'.repeat(32) },
    });
    try {
      expect(server.output()).toContain('production mode');
      expect(server.output()).not.toContain(key);
      const res = await fetch(`${server.url}/ready`);
      expect(await res.json()).toMatchObject({ ready: true });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
