/** The dashboard's pure parts: link status from cadence, chart bucketing, energy, live tickets. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_UPLOAD_INTERVAL_MS, expectedInterval, linkStatus } from '../../../src/dashboard/cadence.js';
import { dayStartOf, EnergyAccumulator, MAX_ENERGY_GAP_MS } from '../../../src/dashboard/fleet-tracker.js';
import { LiveTickets } from '../../../src/dashboard/live-ticket.js';
import { bucketReadings } from '../../../src/dashboard/routes/dashboard-routes.js';
import type { Reading } from '../../../src/ports/storage.js';
import type { Quality } from '../../../src/protocol/codecs/types.js';

describe('link status from upload cadence', () => {
  it('takes the median of recent intervals, else the average since first seen, else the default', () => {
    expect(expectedInterval([10_000, 11_000, 60_000], { firstSeen: null, lastSeen: null, uploads: 0 })).toBe(
      11_000,
    );
    expect(expectedInterval([], { firstSeen: 0, lastSeen: 90_000, uploads: 4 })).toBe(30_000);
    expect(expectedInterval([], { firstSeen: 0, lastSeen: 0, uploads: 1 })).toBe(DEFAULT_UPLOAD_INTERVAL_MS);
    expect(expectedInterval([5], { firstSeen: null, lastSeen: null, uploads: 0 })).toBe(1000);
  });

  it('is online within two intervals, late up to about six, offline after', () => {
    const now = 1_000_000;
    expect(linkStatus(null, 15_000, now)).toBe('never');
    expect(linkStatus(now - 30_000, 15_000, now)).toBe('online');
    expect(linkStatus(now - 40_000, 15_000, now)).toBe('late');
    expect(linkStatus(now - 120_000, 15_000, now)).toBe('late');
    expect(linkStatus(now - 121_000, 15_000, now)).toBe('offline');
  });
});

describe('chart buckets', () => {
  const reading = (
    time: number,
    register: number,
    raw: number | null,
    quality: Quality = 'exact',
  ): Reading => ({
    time,
    register,
    raw,
    quality,
    uploadId: '1',
    packetIndex: 0,
    sampleIndex: 0,
  });

  it('averages scaled values per bucket and flags the worst quality in it', () => {
    const out = bucketReadings(
      [
        reading(0, 0, 2300),
        reading(500, 0, 2400, 'approximate'),
        reading(1000, 0, 2350, 'ambiguous'),
        reading(1000, 9, 1500),
        reading(1500, 9, null, 'missing'),
      ],
      [0, 9],
      0,
      1000,
      2,
    );
    expect(out.values).toEqual([
      [235, 235],
      [null, 1500],
    ]);
    expect(out.flags).toEqual([
      [1, 2],
      [0, 0],
    ]);
    expect(out.time).toEqual([250, 1000]);
  });

  it('breaks the line where data is missing for long', () => {
    const out = bucketReadings([reading(0, 9, 1), reading(600_000, 9, 2)], [9], 0, 1000, 601);
    expect(out.values[0]).toEqual([1, null, 2]);
  });
});

describe('energy today', () => {
  it('integrates power with trapezoids and does not bridge long gaps', () => {
    const e = new EnergyAccumulator(0);
    for (let t = 0; t <= 3_600_000; t += 60_000) e.add(t, 1000); // one hour at 1 kW
    expect(e.wh).toBeCloseTo(1000, 6);
    e.add(3_600_000 + MAX_ENERGY_GAP_MS + 1, 5000); // outage: not bridged
    expect(e.wh).toBeCloseTo(1000, 6);
    e.add(3_600_000, 9999); // older than the last sample: ignored
    expect(e.wh).toBeCloseTo(1000, 6);
  });

  it('counts from local midnight', () => {
    const t = new Date(2026, 5, 21, 13, 30).getTime();
    expect(dayStartOf(t)).toBe(new Date(2026, 5, 21).getTime());
    const e = new EnergyAccumulator(dayStartOf(t));
    e.add(dayStartOf(t) - 1000, 1000);
    expect(e.wh).toBe(0);
  });
});

describe('live-stream tickets', () => {
  it('verifies its own tickets until they expire, and nothing else', () => {
    const tickets = new LiveTickets(1000);
    const { ticket, expiresAt } = tickets.issue(5000);
    expect(expiresAt).toBe(6000);
    expect(tickets.verify(ticket, 5500)).toBe(true);
    expect(tickets.verify(ticket, 6000)).toBe(false);
    expect(new LiveTickets().verify(ticket, 5500)).toBe(false);
    const [exp, nonce, mac] = ticket.split('.');
    expect(tickets.verify(`${Number(exp) + 100000}.${nonce}.${mac}`, 5500)).toBe(false);
    for (const bad of [undefined, '', 'x', 42, `${ticket}x`]) expect(tickets.verify(bad, 5500)).toBe(false);
  });
});
