import { describe, expect, it } from 'vitest';
import { classifyCounterReset, counterResetAdvice } from '../../../src/ingest/counter-reset.js';

const base = { source: '10.0.0.5', lastSource: '10.0.0.5' } as const;

describe('why an authentic nonce is far below the highest', () => {
  it('names a wrap from 2^32-1 to 0 (PROTOCOL-1.3 §2)', () => {
    expect(classifyCounterReset({ ...base, generation: '1.3', nonce: 0, high: 0xffff_ffff })).toBe(
      'nonce_wrapped',
    );
    expect(classifyCounterReset({ ...base, generation: '1.3', nonce: 3, high: 0xffff_fff0 })).toBe(
      'nonce_wrapped',
    );
  });

  it("names a wiped NVS by each generation's boot floor", () => {
    expect(classifyCounterReset({ ...base, generation: '1.3', nonce: 11_001, high: 500_000 })).toBe(
      'nvs_wiped',
    );
    expect(classifyCounterReset({ ...base, generation: 'e84f720', nonce: 10_001, high: 500_000 })).toBe(
      'nvs_wiped',
    );
    // 1.3 never restarts below its floor of 11000.
    expect(classifyCounterReset({ ...base, generation: '1.3', nonce: 10_500, high: 500_000 })).toBe(
      'unknown',
    );
  });

  it('names two units on one id when the low nonce comes from another address', () => {
    expect(
      classifyCounterReset({
        generation: '1.3',
        nonce: 11_050,
        high: 90_000,
        source: '10.0.0.9',
        lastSource: '10.0.0.5',
      }),
    ).toBe('id_collision');
  });

  it('says how to re-arm, one below the nonce the device now uses', () => {
    expect(counterResetAdvice('nvs_wiped', 'ESP32_001', 11_001, 40_000)).toContain(
      'ecowatt device replay-reset ESP32_001 --reason … --to 11000',
    );
    expect(counterResetAdvice('id_collision', 'ESP32_001', 11_001, 40_000)).toMatch(
      /two units share this id/,
    );
  });
});
