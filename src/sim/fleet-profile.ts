/**
 * Per-device variety for a simulated fleet. A real fleet is not a thousand copies of one
 * inverter: sizes, weather, day length, upload cadence and firmware differ from site to site,
 * and the server must cope with all of them at once. Profiles are derived from (seed, index)
 * only, so a run can be repeated exactly.
 */
import { type InverterProfile, seededRandom } from './inverter.js';

export interface DeviceProfile {
  inverter: InverterProfile;
  /** Multiplies the fleet's upload interval (0.5 = uploads twice as often). */
  cadenceFactor: number;
  /** Shown in summaries; the label the device would report to an OTA check. */
  firmwareVersion: string;
  weather: Weather;
}

export type Weather = 'clear' | 'cloudy' | 'overcast';

/** The field build with the 2048-byte upload buffer (PROTOCOL.md §1.4). */
export const FIELD_FIRMWARE_VERSION = 'e84f720';
/** Label of devices in a uniform fleet, which behave like a fixed field build. */
export const UNIFORM_FIRMWARE_VERSION = '1.0.0';
/** What protocol v2 devices run: a newer generation than every v1 build in the mix. */
export const V2_FIRMWARE_VERSION = '2.0.0';

/** Common residential and small commercial string-inverter sizes, W. */
const RATED_POWERS = [1500, 2000, 3000, 3600, 4000, 5000, 6000, 8000, 10_000] as const;
/** Weighted: most devices run the newest builds, a tail lags behind. */
const FIRMWARE_MIX = ['1.2.0', '1.2.0', '1.2.0', '1.1.4', '1.1.4', '1.0.0'] as const;
/** Most devices keep the configured cadence; some were set faster or slower by their owners. */
const CADENCE_MIX = [1, 1, 1, 1, 0.5, 2] as const;

const WEATHER: Record<Weather, { noise: number; cloudiness: number }> = {
  clear: { noise: 0.02, cloudiness: 0 },
  cloudy: { noise: 0.08, cloudiness: 0.5 },
  overcast: { noise: 0.15, cloudiness: 0.9 },
};

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)];

/** The profile the simulator has always used: same curve shape for everyone, sizes spread. */
export function uniformProfile(index: number, seed: number): DeviceProfile {
  return {
    inverter: { ratedPowerW: 3000 + ((index * 997) % 3000), noise: 0.05, seed: seed * 7919 + index },
    cadenceFactor: 1,
    firmwareVersion: UNIFORM_FIRMWARE_VERSION,
    weather: 'clear',
  };
}

export function variedProfile(index: number, seed: number): DeviceProfile {
  const random = seededRandom((seed * 2_654_435_761 + index * 40_503) >>> 0);
  const weather = pick<Weather>(random, ['clear', 'clear', 'cloudy', 'cloudy', 'overcast']);
  const w = WEATHER[weather];
  // Day length follows latitude and season: a fleet spread over a country sees different nights.
  const sunriseHour = 5 + random() * 2.5;
  const sunsetHour = 17 + random() * 3.5;
  return {
    inverter: {
      ratedPowerW: pick(random, RATED_POWERS),
      noise: w.noise,
      cloudiness: w.cloudiness,
      sunriseHour,
      sunsetHour,
      seed: seed * 7919 + index,
    },
    cadenceFactor: pick(random, CADENCE_MIX),
    firmwareVersion: pick(random, FIRMWARE_MIX),
    weather,
  };
}
