import { describe, expect, it } from 'vitest';
import { gen13Decoder, packetEndTime } from '../../../src/ingest/gen13-decoder.js';
import {
  buildUpload13,
  compressSmart13,
  encodeAggregation13,
  Temporal13State,
} from '../../../src/protocol/gen13/index.js';

const LAYOUT = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const SAMPLE = [2429, 177, 5000, 3100, 3050, 73, 70, 605, 100, 4331];
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

function decode(
  packets: Parameters<typeof buildUpload13>[0]['packets'],
  state = gen13Decoder.loadState(null),
) {
  const parsed = gen13Decoder.parse(
    JSON.parse(buildUpload13({ deviceId: 'd', timestamp: NOW / 1000, samplingInterval: 5, packets })),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  return gen13Decoder.decode('d', parsed.doc, { receivedAt: NOW + 300, pollIntervalMs: 2000 }, state);
}

describe('the 1.3 upload decode stage', () => {
  it('places samples by the packet stamp against the upload clock, sampling_interval apart', () => {
    const bytes = compressSmart13([...LAYOUT, ...LAYOUT], [...SAMPLE, ...SAMPLE], new Temporal13State());
    const [p] = decode([{ bytes, registerLayout: LAYOUT, sampleCount: 2, lastSampleMs: NOW - 7000 }]);
    expect(p.status).toBe('decoded');
    expect(p.block).toMatchObject({ time: NOW - 12_000, step: 5000, samples: 2 });
    expect(p.block?.values).toEqual([...SAMPLE, ...SAMPLE]);
  });

  it('trusts the packet stamp within the upload second, and falls back to receipt for a wrong clock', () => {
    expect(packetEndTime({ timestamp: NOW / 1000 }, (NOW + 400) % 2 ** 32, NOW + 900)).toBe(NOW + 400);
    // A device clock two days off: its packets are placed by their age against it, on our clock.
    const skewed = NOW - 2 * 86_400_000;
    expect(packetEndTime({ timestamp: skewed / 1000 }, (skewed - 5000) % 2 ** 32, NOW)).toBe(NOW - 5000);
  });

  it('quarantines a packet cut by the firmware and keeps what it holds', () => {
    const samples = Array.from({ length: 12 }, (_, s) =>
      SAMPLE.map((v, i) => (v + s * 977 * (i + 1)) % 65536),
    );
    const layout = samples.flatMap(() => LAYOUT);
    const bytes = compressSmart13(layout, samples.flat(), new Temporal13State());
    expect(bytes.length).toBeGreaterThan(189);
    const [p] = decode([{ bytes, registerLayout: LAYOUT, sampleCount: 12, lastSampleMs: NOW }]);
    expect(p.status).toBe('quarantined');
    expect(p.reason).toMatch(/^truncated: compressed_binary holds 189 of \d+ bytes/);
    expect(Buffer.from(p.bytes, 'base64')).toHaveLength(189);
  });

  it('keeps an aggregation packet as its summary, never as invented samples', () => {
    const bytes = encodeAggregation13({
      mode: 2,
      sampleCount: 3,
      registerCount: 2,
      tStart: 1,
      tEnd: 2,
      registers: [0, 9],
      min: [2400, 4000],
      max: [2450, 4400],
      avg: [2420, 4200],
    });
    const [p] = decode([{ bytes, registerLayout: [0, 9], sampleCount: 3, lastSampleMs: NOW }]);
    expect(p.status).toBe('decoded');
    expect(p.block?.quality).toEqual(new Array(6).fill('missing'));
    expect(p.block?.values).toEqual(new Array(6).fill(null));
    expect(p.notes.at(-1)).toContain('"min":[2400,4000]');
  });

  it('keeps its temporal history across uploads in the stored state', () => {
    const state = gen13Decoder.loadState(null);
    decode(
      [
        {
          bytes: compressSmart13(LAYOUT, SAMPLE, new Temporal13State()),
          registerLayout: LAYOUT,
          sampleCount: 1,
          lastSampleMs: NOW,
        },
      ],
      state,
    );
    const again = gen13Decoder.loadState(gen13Decoder.saveState(state));
    expect(gen13Decoder.saveState(again)).toBe(gen13Decoder.saveState(state));
    // Another generation's state reads as fresh.
    expect(gen13Decoder.saveState(gen13Decoder.loadState('{"learned":[],"frozen":false}'))).toBe(
      gen13Decoder.saveState(gen13Decoder.loadState(null)),
    );
  });
});
