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
    let missing = 0;
    let unknownPattern = 0;
    for (const ack of summary.acknowledged) {
      const upload = await server.admin('GET', `/api/uploads/${ack.uploadId}`);
      expect(upload.json.quarantined).toEqual([]);
      for (const p of upload.json.packets as { notes: string[] }[]) {
        if (p.notes.some((n) => n.includes('only known to the device'))) unknownPattern++;
      }
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
          if (r.quality === 'missing') missing++;
        }
      }
    }
    expect(exact).toBeGreaterThan(0);
    // At dawn the devices learn dictionary patterns they never send; the server mirrors them, so
    // no packet is left undecoded for want of a pattern (missing values remain only where the
    // format itself loses positions, §3.3.1).
    expect(unknownPattern).toBe(0);
    expect(missing).toBeLessThan(exact);
  });
});
