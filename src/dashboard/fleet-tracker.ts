/**
 * What the dashboard shows about each device that the registry does not keep: its recent upload
 * cadence, the newest value of each register and the energy produced today. Filled lazily from
 * storage, then kept current by `observe` with every committed upload.
 */

import type { UploadStore } from '../ports/storage.js';
import type { CommittedUpload } from '../ports/upload-feed.js';
import type { Quality } from '../protocol/codecs/types.js';

/** RegID of the inverter output power (W). */
export const PAC = 9;
/** Power samples further apart than this are not bridged when integrating energy. */
export const MAX_ENERGY_GAP_MS = 10 * 60_000;
const RECENT_UPLOADS = 9;
const ENERGY_PAGE = 10_000;

export interface LatestValue {
  register: number;
  time: number;
  raw: number;
  quality: Quality;
}

/** Trapezoidal integration of power samples (W) in time order into Wh. */
export class EnergyAccumulator {
  wh = 0;
  private lastTime: number | null = null;
  private lastPower = 0;

  constructor(readonly dayStart: number) {}

  add(time: number, watts: number): void {
    if (time < this.dayStart) return;
    if (this.lastTime !== null) {
      if (time <= this.lastTime) return;
      const dt = time - this.lastTime;
      if (dt <= MAX_ENERGY_GAP_MS) this.wh += (((this.lastPower + watts) / 2) * dt) / 3_600_000;
    }
    this.lastTime = time;
    this.lastPower = watts;
  }
}

/** Local midnight of the day `now` falls in. */
export function dayStartOf(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

interface DeviceState {
  /** Receive times of the newest uploads, oldest first. */
  uploads: number[];
  latest?: Map<number, LatestValue>;
  latestLoading?: Promise<void>;
  energy?: EnergyAccumulator;
  /** While today's energy is being read from storage: power samples that arrived meanwhile. */
  pending?: [number, number][];
  loading?: Promise<EnergyAccumulator>;
}

export class FleetTracker {
  private readonly devices = new Map<string, DeviceState>();

  constructor(private readonly storage: UploadStore) {}

  private state(id: string): DeviceState {
    let s = this.devices.get(id);
    if (!s) {
      s = { uploads: [] };
      this.devices.set(id, s);
    }
    return s;
  }

  /**
   * Takes in a committed upload (an `IngestService.onCommitted` listener); answers the newest
   * value of each register in it.
   */
  observe(u: CommittedUpload): LatestValue[] {
    const s = this.state(u.deviceId);
    s.uploads.push(u.receivedAt);
    if (s.uploads.length > RECENT_UPLOADS) s.uploads.shift();
    const duplicates = new Set(u.duplicatePackets);
    const power: [number, number][] = [];
    const newest = new Map<number, LatestValue>();
    for (const p of u.packets) {
      const b = p.block;
      if (!b || duplicates.has(p.index)) continue;
      const width = b.layout.length;
      for (let i = 0; i < b.values.length; i++) {
        const raw = b.values[i];
        if (raw === null) continue;
        const time = b.time + Math.floor(i / width) * b.step;
        const register = b.layout[i % width];
        const value: LatestValue = { register, time, raw, quality: b.quality[i] };
        const mine = newest.get(register);
        if (!mine || mine.time <= time) newest.set(register, value);
        const known = s.latest?.get(register);
        if (s.latest && (!known || known.time <= time)) s.latest.set(register, value);
        if (register === PAC) power.push([time, raw]);
      }
    }
    power.sort((a, b) => a[0] - b[0]);
    if (s.pending) s.pending.push(...power);
    else if (s.energy) for (const [t, w] of power) s.energy.add(t, w);
    return [...newest.values()].sort((a, b) => a.register - b.register);
  }

  /** Today's energy if it is known already (no storage read). */
  energyIfKnown(id: string, now = Date.now()): number | null {
    const e = this.devices.get(id)?.energy;
    return e && e.dayStart === dayStartOf(now) && !this.devices.get(id)?.pending ? e.wh : null;
  }

  /** Intervals between the device's recent uploads seen by this process, ms. */
  recentIntervals(id: string): number[] {
    const up = this.devices.get(id)?.uploads ?? [];
    return up.slice(1).map((t, i) => t - up[i]);
  }

  async latest(id: string): Promise<LatestValue[]> {
    const s = this.state(id);
    if (!s.latest) {
      // Uploads observed while storage is read land in the map already; they are newer.
      const map = new Map<number, LatestValue>();
      s.latest = map;
      s.latestLoading = this.storage.latestReadings(id).then((stored) => {
        for (const r of stored) {
          const known = map.get(r.register);
          if (r.raw !== null && (!known || known.time < r.time)) {
            map.set(r.register, { register: r.register, time: r.time, raw: r.raw, quality: r.quality });
          }
        }
      });
    }
    await s.latestLoading;
    return [...s.latest.values()].sort((a, b) => a.register - b.register);
  }

  /** Energy produced since local midnight, Wh (W samples of `Pac` integrated). */
  async energyToday(id: string, now = Date.now()): Promise<number> {
    const s = this.state(id);
    const day = dayStartOf(now);
    if (s.energy && s.energy.dayStart === day) return s.energy.wh;
    if (!s.loading) {
      s.pending = [];
      s.loading = this.readEnergy(id, day).finally(() => {
        s.loading = undefined;
      });
    }
    const acc = await s.loading;
    if (s.pending) {
      for (const [t, w] of s.pending.sort((a, b) => a[0] - b[0])) acc.add(t, w);
      s.pending = undefined;
    }
    s.energy = acc;
    return acc.wh;
  }

  private async readEnergy(id: string, day: number): Promise<EnergyAccumulator> {
    const acc = new EnergyAccumulator(day);
    let cursor: string | undefined;
    do {
      const page = await this.storage.queryReadings(id, {
        from: day,
        registers: [PAC],
        limit: ENERGY_PAGE,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.readings) if (r.raw !== null) acc.add(r.time, r.raw);
      cursor = page.next ?? undefined;
    } while (cursor);
    return acc;
  }
}
