/**
 * The simulator drives the real server over HTTP; what the server stores is what the simulated
 * inverters measured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { type RunningServer, startServer } from '../helpers/server-process.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('simulator against the real server', () => {
  it('has every upload accepted and every exact reading equal to what the device measured', async () => {
    const summary = await runSimulation({
      url: server.url,
      devices: 4,
      intervalSeconds: 0.01,
      uploadsPerDevice: 8,
      encrypt: true,
      keepAcknowledged: true,
    });
    expect(summary.sent).toBe(32);
    expect(summary.accepted).toBe(32);
    expect(summary.rejected).toEqual({});

    let exact = 0;
    for (const ack of summary.acknowledged) {
      const upload = await server.admin('GET', `/api/uploads/${ack.uploadId}`);
      expect(upload.json.quarantined).toEqual([]);
      const page = await server.admin('GET', `/api/devices/${ack.deviceId}/readings?limit=10000`);
      const mine = page.json.readings.filter((r: { upload: string }) => r.upload === ack.uploadId);
      expect(mine).toHaveLength(ack.values.length * 30);
      for (const r of mine as {
        packet: number;
        sample: number;
        reg_id: number;
        raw: number;
        quality: string;
      }[]) {
        const measured = ack.values[r.packet][r.sample * 6 + BATCH_LAYOUT.indexOf(r.reg_id)];
        if (r.quality === 'exact') {
          expect(r.raw).toBe(measured);
          exact++;
        } else {
          expect(['approximate', 'ambiguous', 'missing']).toContain(r.quality);
        }
      }
    }
    expect(exact).toBeGreaterThan(0);
  });
});
