import { describe, expect, it } from 'vitest';
import type { KeyStatus } from '../../../src/config/config-state.js';
import { GEN13_MAX_VALUES_PER_PACKET, packetOverflow13 } from '../../../src/config/config13-response.js';
import { buildOffer13 } from '../../../src/config/config13-state.js';

const pending = (key: KeyStatus['key'], desired: KeyStatus['desired']): KeyStatus => ({
  key,
  desired,
  source: 'device',
  version: 1,
  state: 'pending',
  running: undefined,
  delivery: undefined,
  offer: true,
  note: undefined,
});

describe('1.3 packets must stay within the 189 bytes the firmware sends whole', () => {
  it('allows the defaults and refuses a cadence whose packet would be cut', () => {
    expect(GEN13_MAX_VALUES_PER_PACKET).toBe(93);
    expect(packetOverflow13(5, 15, 10)).toBeUndefined();
    expect(packetOverflow13(5, 45, 10)).toBeUndefined(); // 9 samples × 10 = 90 values
    expect(packetOverflow13(5, 50, 10)).toMatch(/100 values/);
    expect(packetOverflow13(1, 50, 1)).toBeUndefined();
    expect(packetOverflow13(1, 60, 1)).toMatch(/keeps the last 50/);
  });

  it('holds back every cadence key of an offer that would overflow, and says why', () => {
    const { offer, refused } = buildOffer13([
      pending('upload_interval', 300),
      pending('config_poll_interval', 10),
    ]);
    expect(offer).toEqual({ config_poll_interval: 10 });
    expect(refused.upload_interval).toMatch(/keeps the last 50/);
    expect(buildOffer13([pending('upload_interval', 60)]).refused.upload_interval).toMatch(
      /cuts packets above 189 bytes/,
    );
    // Fewer registers make the same cadence safe, whether asked for or reported running.
    expect(
      buildOffer13([pending('upload_interval', 60)], { registers: { value: ['Vac1', 'Pac'] } }).offer,
    ).toEqual({
      upload_interval: 60,
    });
    const fewer = buildOffer13([pending('upload_interval', 240), pending('registers', ['Pac'])]);
    expect(fewer.offer).toEqual({ upload_interval: 240, registers: ['Pac'] });
  });
});
