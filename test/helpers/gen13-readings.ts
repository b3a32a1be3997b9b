/**
 * What a simulated 1.3 device's acknowledged uploads must have left in storage, from what it read
 * and sent (shared by the 1.3 simulator and mixed-fleet end-to-end tests).
 */
import { expect } from 'vitest';
import { decodePacket13, Temporal13Context } from '../../src/protocol/gen13/index.js';
import type { AcknowledgedUpload } from '../../src/sim/simulator.js';

export interface Reading {
  time: string;
  reg_id: number;
  raw: number | null;
  quality: string;
  upload: string;
  packet: number;
  sample: number;
}

/**
 * Every reading a device's acknowledged uploads must have left, from what the simulator read and
 * sent: the packets decoded as the server must decode them (in order, one temporal history per
 * device); a value the bytes hold exactly must be the one read.
 */
export function expectedReadings(
  acks: readonly AcknowledgedUpload[],
): Map<string, Omit<Reading, 'upload' | 'packet' | 'sample'>> {
  const out = new Map<string, Omit<Reading, 'upload' | 'packet' | 'sample'>>();
  const context = Temporal13Context.unknown();
  for (const a of acks) {
    const g = a.gen13;
    if (!g) throw new Error('not a 1.3 upload');
    g.packetsHex.forEach((hex, p) => {
      const layout = g.registerLayouts[p];
      const times = g.sampleTimesMs[p];
      const read = a.values[p];
      const registers = times.flatMap(() => layout);
      const decoded = decodePacket13(Buffer.from(hex, 'hex'), { registers, context });
      if (!decoded.ok) throw new Error(`${a.deviceId} ${a.uploadId}: ${decoded.message}`);
      registers.forEach((reg, i) => {
        const sample = Math.floor(i / layout.length);
        const quality = decoded.quality[i];
        if (quality === 'exact') expect(decoded.values[i]).toBe(read[i]);
        out.set(`${a.uploadId}/${p}/${sample}/${reg}`, {
          time: new Date(times[sample]).toISOString(),
          reg_id: reg,
          raw: decoded.values[i],
          quality,
        });
      });
    });
  }
  return out;
}
