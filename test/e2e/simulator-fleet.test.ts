/**
 * The simulated fleet's misbehaviour against the real server: every kind of bad upload gets the
 * answer the server must give, devices upload from their own addresses, and devices with the
 * field build's 2048-byte buffer end up stuck exactly as PROTOCOL.md §1.4 describes. Devices ask
 * `/changes` and poll for commands meanwhile, in the same nonce sequence as their uploads: a
 * wiped counter gets those refused too, and nothing else is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MISBEHAVIOURS } from '../../src/sim/misbehaviour.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { loopbackAddresses } from '../../src/sim/transport.js';
import { type RunningServer, startServer } from '../helpers/server-process.js';

let server: RunningServer;

beforeAll(async () => {
  // Time runs ~75× faster than in the field here: the per-device rate limit is made for 15 s.
  server = await startServer({ env: { ECOWATT_RATE_LIMIT_DEVICE: 'off', ECOWATT_MQTT_EMBEDDED: 'false' } });
});
afterAll(async () => {
  await server?.stop();
});

describe('a misbehaving fleet against the real server', () => {
  it('gets the answer each kind of upload must get, and nothing else', async () => {
    const summary = await runSimulation({
      url: server.url,
      devices: 24,
      intervalSeconds: 0.2,
      durationSeconds: 6,
      encrypt: false,
      varied: true,
      sourceAddresses: loopbackAddresses(24),
      misbehave: {
        replay: 0.1,
        tamper: 0.1,
        wiped: 0.15,
        drift: 0.2,
        oversized: 0.05,
        truncated: 0.1,
        buffer2048: 0.15,
      },
      changesIntervalSeconds: 0.3,
      commandsIntervalSeconds: 0.3,
    });
    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    for (const m of MISBEHAVIOURS) expect(summary.byIntent[m]?.sent ?? 0, m).toBeGreaterThan(0);
    expect(summary.byIntent.valid?.outcomes['200']).toBeGreaterThan(100);
    expect(summary.stuckDevices).toBe(summary.firmware.e84f720);
    expect(summary.stuckDevices).toBeGreaterThan(0);
    expect(summary.control.requests.changes?.outcomes['200']).toBeGreaterThan(24);
    expect(summary.control.requests.commands?.outcomes['200']).toBeGreaterThan(10);
    // The wiped devices' control requests below their last accepted nonce were refused as replays.
    expect(summary.control.requests.changes?.outcomes['401 replayed_nonce'] ?? 0).toBeGreaterThan(0);

    const device = await server.admin('GET', '/api/devices/sim-0002');
    expect(device.json.last_source).toBe('127.1.0.2');
  });
});
