/**
 * A plausible inverter: output follows a solar day (zero at night, a sine by day) with weather
 * noise; raw register values as the Inverter SIM returns them (§4.1 gains).
 */

export interface InverterProfile {
  /** Rated AC power, W. */
  ratedPowerW: number;
  /** Relative noise on output (0.05 = ±5 %). */
  noise: number;
  /** Deterministic randomness: a seed per device makes runs repeatable. */
  seed: number;
  /** Local hour the panels start producing (default 6). */
  sunriseHour?: number;
  /** Local hour production ends (default 18). */
  sunsetHour?: number;
  /**
   * Passing clouds, 0 (clear sky) … 1 (overcast): how deep and how frequent the dips in output
   * are. Default 0 keeps the smooth curve existing runs were measured with.
   */
  cloudiness?: number;
}

/** Mulberry32: small, fast, seedable; not for cryptography. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clampU16 = (x: number) => Math.max(0, Math.min(65535, Math.round(x)));

/** The export power limit register (`Pow`, RegID 8), percent of rated power. */
export const EXPORT_LIMIT_REGISTER = 8;

export class Inverter {
  private readonly random: () => number;
  /** Fraction of sunlight the current cloud lets through; drifts slowly from poll to poll. */
  private shade = 1;
  /**
   * Export power limit in percent (the Inverter SIM's default is 100). It is the inverter's own
   * register, so it survives a reboot of the device that polls it.
   */
  private limitPercent = 100;

  constructor(private readonly profile: InverterProfile) {
    this.random = seededRandom(profile.seed);
  }

  get exportLimitPercent(): number {
    return this.limitPercent;
  }

  /** A Modbus write of `Pow` (function 06, address 8): whole percent, 0 … 100. */
  setExportLimit(percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`export limit must be a whole percent from 0 to 100, got ${percent}`);
    }
    this.limitPercent = percent;
  }

  /** Register values by RegID (0..9) at wall-clock time `t` (ms). */
  read(t: number): number[] {
    const hour = (t / 3_600_000) % 24;
    const rise = this.profile.sunriseHour ?? 6;
    const set = this.profile.sunsetHour ?? 18;
    const sun = hour > rise && hour < set ? Math.sin(((hour - rise) / (set - rise)) * Math.PI) : 0;
    const jitter = () => 1 + (this.random() * 2 - 1) * this.profile.noise;
    const available = Math.max(0, this.profile.ratedPowerW * sun * this.cloud() * jitter());
    // Curtailed to the export limit. Without a limit nothing is capped, which keeps the values of
    // runs measured before the limit existed (noise may lift output a little above rated).
    const pac =
      this.limitPercent < 100
        ? Math.min(available, (this.profile.ratedPowerW * this.limitPercent) / 100)
        : available;
    const vac = 2300 + this.random() * 150; // 230.0–245.0 V
    const iac = (pac / (vac / 10)) * 10; // A ×10
    const vpv1 = sun > 0 ? 3000 + this.random() * 300 : 0;
    const vpv2 = sun > 0 ? 2950 + this.random() * 300 : 0;
    const ipv1 = vpv1 > 0 ? ((pac * 0.52) / (vpv1 / 10)) * 10 : 0;
    const ipv2 = vpv2 > 0 ? ((pac * 0.48) / (vpv2 / 10)) * 10 : 0;
    const temp = 250 + sun * 300 + this.random() * 20; // 25–57 °C ×10
    return [
      clampU16(vac),
      clampU16(iac),
      clampU16(4990 + this.random() * 20),
      clampU16(vpv1),
      clampU16(vpv2),
      clampU16(ipv1),
      clampU16(ipv2),
      clampU16(temp),
      this.limitPercent,
      clampU16(pac),
    ];
  }

  /**
   * A cloud arrives now and then and clears again over a few polls, so output dips the way a
   * real string's does rather than jumping independently every sample. Without cloudiness no
   * random number is drawn, which keeps the values of profiles without clouds unchanged.
   */
  private cloud(): number {
    const c = this.profile.cloudiness ?? 0;
    if (c <= 0) return 1;
    if (this.random() < 0.05 * c) this.shade = Math.min(this.shade, 1 - c * (0.4 + 0.5 * this.random()));
    this.shade += (1 - this.shade) * 0.15;
    return this.shade;
  }
}
