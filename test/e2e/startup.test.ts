/** Start-up refuses unsafe or invalid settings with a message naming the setting. */
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
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

  it('takes the flags of `ecowatt serve` after `npm start --`, over the environment, and refuses unknown ones', async () => {
    const port = await freePort();
    const server = await startServer({ args: ['--port', String(port), '--log-level', 'info'] });
    try {
      expect(server.port).toBe(port);
      expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toMatchObject({
        status: 'healthy',
      });
      // `info` lets request lines through that `warn` (the tests' environment) would hide.
      await eventually(async () => expect(server.output()).toMatch(/"level":30/));
    } finally {
      expect(await server.stop()).toBe(0);
    }
    await expect(startServer({ args: ['--prot', '8080'] })).rejects.toThrow(/unknown option '--prot'/);
    await expect(startServer({ args: ['--port', 'http'] })).rejects.toThrow(/port/);
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
