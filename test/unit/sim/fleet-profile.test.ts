import { describe, expect, it } from 'vitest';
import { uniformProfile, variedProfile } from '../../../src/sim/fleet-profile.js';
import { Inverter } from '../../../src/sim/inverter.js';

const PAC = 9;
const at = (hour: number) => Date.UTC(2026, 5, 21, 0) + hour * 3_600_000;

describe('fleet profiles', () => {
  it('are repeatable for the same seed and index', () => {
    expect(variedProfile(7, 3)).toEqual(variedProfile(7, 3));
    expect(variedProfile(7, 3)).not.toEqual(variedProfile(8, 3));
  });

  it('spread sizes, weather, day length, cadence and firmware over a fleet', () => {
    const fleet = Array.from({ length: 300 }, (_, i) => variedProfile(i, 1));
    expect(new Set(fleet.map((p) => p.inverter.ratedPowerW)).size).toBeGreaterThan(5);
    expect(new Set(fleet.map((p) => p.weather))).toEqual(new Set(['clear', 'cloudy', 'overcast']));
    expect(new Set(fleet.map((p) => p.cadenceFactor))).toEqual(new Set([0.5, 1, 2]));
    expect(new Set(fleet.map((p) => p.firmwareVersion)).size).toBeGreaterThan(1);
    for (const p of fleet) {
      expect(p.inverter.sunriseHour).toBeGreaterThanOrEqual(5);
      expect(p.inverter.sunsetHour).toBeLessThanOrEqual(20.5);
      expect(p.inverter.sunriseHour as number).toBeLessThan(p.inverter.sunsetHour as number);
    }
  });

  it('keeps the uniform fleet as it always was', () => {
    expect(uniformProfile(2, 1).inverter).toEqual({ ratedPowerW: 3000 + 1994, noise: 0.05, seed: 7919 + 2 });
    expect(uniformProfile(2, 1).cadenceFactor).toBe(1);
  });
});

describe('Inverter', () => {
  it('produces nothing at night and most around noon', () => {
    const inv = new Inverter({ ratedPowerW: 5000, noise: 0, seed: 1, sunriseHour: 7, sunsetHour: 19 });
    expect(inv.read(at(6.5))[PAC]).toBe(0);
    expect(inv.read(at(19.5))[PAC]).toBe(0);
    expect(inv.read(at(13))[PAC]).toBe(5000);
    expect(inv.read(at(10))[PAC]).toBeLessThan(5000);
  });

  it('draws the same values without clouds whether cloudiness is 0 or absent', () => {
    const a = new Inverter({ ratedPowerW: 4000, noise: 0.05, seed: 11 });
    const b = new Inverter({ ratedPowerW: 4000, noise: 0.05, seed: 11, cloudiness: 0 });
    for (let h = 5; h < 20; h += 0.25) expect(a.read(at(h))).toEqual(b.read(at(h)));
  });

  it('dips under passing clouds and never goes negative', () => {
    const clear = new Inverter({ ratedPowerW: 4000, noise: 0, seed: 5 });
    const cloudy = new Inverter({ ratedPowerW: 4000, noise: 0, seed: 5, cloudiness: 0.9 });
    let lower = 0;
    for (let t = 0; t < 2000; t++) {
      const time = at(12) + t * 2000;
      const c = cloudy.read(time)[PAC];
      expect(c).toBeGreaterThanOrEqual(0);
      if (c < clear.read(time)[PAC] * 0.9) lower++;
    }
    expect(lower).toBeGreaterThan(100);
  });
});
