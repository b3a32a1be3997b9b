/** The reliability suite's own tools: its PNG writer, its statistics and its replay oracle. */
import { inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReplayMode, ReplayState } from '../../../src/model/replay.js';
import { armedAt, checkReplay, UNARMED } from '../../../src/model/replay-window.js';
import { crc32, encodePng, niceTicks, renderChart } from '../../reliability/harness/png.js';
import { ReplayModel } from '../../reliability/harness/replay-model.js';
import { linearFit, percentile } from '../../reliability/harness/stats.js';

describe('PNG writer', () => {
  it('computes the CRC-32 PNG uses', () => {
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
  });

  it('writes a valid 8-bit RGB image', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const png = encodePng(2, 2, rgb);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.toString('ascii', 12, 16)).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(2);
    expect([png[24], png[25]]).toEqual([8, 2]);
    expect(png.readUInt32BE(29)).toBe(crc32(png.subarray(12, 29)));
    const idatLength = png.readUInt32BE(33);
    expect(png.toString('ascii', 37, 41)).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLength));
    expect([...raw]).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]);
    expect(png.toString('ascii', png.length - 8, png.length - 4)).toBe('IEND');
  });

  it('draws a chart with its lines on it', () => {
    const bmp = renderChart(
      [
        {
          title: 'RSS',
          series: [
            {
              label: 'A',
              color: [200, 0, 0],
              points: [
                [0, 1],
                [10, 5],
                [20, 3],
              ],
            },
          ],
        },
      ],
      { width: 400, panelHeight: 200 },
    );
    expect(bmp.width).toBe(400);
    expect(bmp.height).toBe(200);
    let red = 0;
    for (let i = 0; i < bmp.data.length; i += 3) if (bmp.data[i] === 200 && bmp.data[i + 1] === 0) red++;
    expect(red).toBeGreaterThan(100);
    expect(bmp.png().length).toBeGreaterThan(100);
  });

  it('puts axis ticks on round numbers', () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.3, 1.1, 4)).toEqual([0.4, 0.6, 0.8, 1]);
  });
});

describe('statistics', () => {
  it('fits a line', () => {
    const fit = linearFit([0, 1, 2, 3], [1, 3, 5, 7]);
    expect(fit.slope).toBeCloseTo(2);
    expect(fit.intercept).toBeCloseTo(1);
    expect(fit.r2).toBeCloseTo(1);
    expect(linearFit([1], [4]).slope).toBe(0);
  });

  it('takes nearest-rank percentiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile([], 99)).toBe(0);
  });
});

describe('the replay oracle', () => {
  it('agrees with the server’s bitmap implementation on any sequence', () => {
    const modeArb = fc.oneof(
      fc.constant<ReplayMode>({ kind: 'strict' }),
      fc.integer({ min: 1, max: 70 }).map((size): ReplayMode => ({ kind: 'window', size })),
    );
    fc.assert(
      fc.property(
        modeArb,
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.integer({ min: 0, max: 1200 }), { maxLength: 60 }),
        (mode, start, threshold, nonces) => {
          const model = new ReplayModel(start);
          let state: ReplayState = start === null ? UNARMED : armedAt(start);
          for (const n of nonces) {
            const want = model.decide(n, mode, threshold);
            const got = checkReplay(state, n, mode, threshold);
            if (got.accept !== want.accept) return false;
            if (got.accept) state = got.next;
            else if (!want.accept && (got.reason === 'counter_reset_suspected') !== want.reset) return false;
          }
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  });
});
