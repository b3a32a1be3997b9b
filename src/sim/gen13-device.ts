/**
 * One simulated generation 1.3 device (PROTOCOL-1.3.md), without the network: what it keeps in NVS
 * (nonce, settings, the version it runs) and in RAM (samples, the upload ring, the compressor's
 * temporal state, the timers it runs), its inverter, and its clocks. The fleet runner
 * (gen13-fleet.ts) decides when things happen and carries its requests.
 *
 * Time is the device's own: `elapsed` ms since the simulation started it (its crystal), `millis()`
 * since the last boot, and an NTP-set unix clock that starts at the wall clock and runs at the
 * device's speed (so an accelerated run keeps its samples `sampling_interval` apart).
 */
import { bootNonce13, Temporal13State } from '../protocol/gen13/index.js';
import {
  bootConfig13,
  type Config13,
  type Config13Key,
  type ConfigReaction13,
  currentConfigBody13,
  freshNvs13,
  type Nvs13,
  reactToConfig13,
} from './gen13-config.js';
import { compressBatch13, type PostResult13, Uploader13 } from './gen13-uploader.js';
import { Inverter, type InverterProfile } from './inverter.js';

/** The firmware version a 1.3 device runs (src/main.cpp:40). */
export const GEN13_FIRMWARE_VERSION = '1.3.4';
/** millis() when the tasks start after a boot (Wi-Fi, NTP, registration come first). */
const BOOT_MILLIS = 8_000;
/** The poll task's sample ring (task_manager.h:62). */
export const SAMPLE_RING_13 = 50;
/**
 * The simulator's floor under a timer the server set to 0 (the firmware would spin): the NVS
 * minimums (100 ms for polling, 1 s for the rest).
 */
const TIMER_FLOOR_MS = { poll: 100, other: 1000 } as const;

/** Fault types fault_recovery.cpp reports (getFaultTypeName). */
export const FAULT_TYPES_13 = [
  'crc_error',
  'truncated_payload',
  'garbage_data',
  'buffer_overflow',
  'timeout',
  'modbus_exception',
] as const;
export type FaultType13 = (typeof FAULT_TYPES_13)[number];

/** A Modbus fault met while polling, and what recovery did about it. */
export interface FaultEvent13 {
  device_id: string;
  timestamp: number;
  fault_type: FaultType13;
  recovery_action: 'retry_read' | 'reset_connection' | 'skip_sample';
  success: boolean;
  details: string;
  retry_count: number;
}

/** The timers a device runs, in its own ms. */
export interface Timers13 {
  poll: number;
  upload: number;
  config: number;
  commands: number;
  firmware: number;
  energy: number;
}

export interface Gen13DeviceOptions {
  id: string;
  psk: Uint8Array;
  profile: InverterProfile;
  /** Where the inverter's simulated day starts (ms): its output follows that clock. */
  dayStart: number;
  /** The unix clock (ms) when the device starts. */
  unixStart: number;
  /** The settings NVS holds at the first boot (default: the firmware's). */
  nvs?: Nvs13;
  /** The NVS nonce at the first boot (null: never written, so 11000 after the boot floor). */
  nonce?: number | null;
  version?: string;
  /** Rate per poll of each fault type (fault_recovery.cpp); randomness from `random`. */
  faults?: Partial<Record<FaultType13, number>>;
  random?: () => number;
  /** Carries one sealed upload to `POST /aggregated/<id>`. */
  post: (body: string, nonce: number) => Promise<PostResult13>;
  /** Waits `ms` of device time (the uploader's 300 ms before a retry). */
  sleep: (ms: number) => Promise<void>;
}

interface Sample {
  values: number[];
  at: number;
}

/** The settings that differ between two running configurations. */
function changedKeys(before: Config13, after: Config13): Config13Key[] {
  const keys: Config13Key[] = [];
  const differs = (a: number, b: number, key: Config13Key) => {
    if (a !== b) keys.push(key);
  };
  differs(before.pollUs, after.pollUs, 'sampling_interval');
  differs(before.uploadUs, after.uploadUs, 'upload_interval');
  differs(before.configUs, after.configUs, 'config_poll_interval');
  differs(before.commandUs, after.commandUs, 'command_poll_interval');
  differs(before.otaUs, after.otaUs, 'firmware_check_interval');
  differs(before.energyUs, after.energyUs, 'energy_poll_interval');
  if (before.registers.join() !== after.registers.join()) keys.push('registers');
  return keys;
}

export class Gen13Device {
  readonly id: string;
  readonly inverter: Inverter;
  readonly uploader: Uploader13;
  // NVS: survives a reboot.
  private nvs: Nvs13;
  readonly nonce: { value: number };
  private running: string;
  // RAM.
  /** ConfigManager's current config: what the device reports and compares against. */
  private config: Config13;
  /** The configuration the timers and the poll task run (the config, as of the last apply). */
  private active: Config13;
  /** A change is stored but not running yet: applied after the next successful upload. */
  private changePending = false;
  /** The change touches the data pipeline: samples read meanwhile are discarded (§3). */
  private pipelinePending = false;
  private samples: Sample[] = [];
  private temporal = new Temporal13State();
  private nextPollAt: number;
  private elapsed = 0;
  private bootAt = 0;
  private unixStart: number;
  private readonly random: () => number;
  /** Samples lost: discarded while a change was pending, skipped after a fault, or overwritten. */
  discardedSamples = 0;
  reboots = 0;

  constructor(private readonly opts: Gen13DeviceOptions) {
    this.id = opts.id;
    this.unixStart = opts.unixStart;
    this.inverter = new Inverter(opts.profile);
    this.nvs = opts.nvs ?? freshNvs13();
    this.nonce = { value: bootNonce13(opts.nonce ?? null) };
    this.running = opts.version ?? GEN13_FIRMWARE_VERSION;
    this.config = bootConfig13(this.nvs);
    this.active = this.config;
    this.random = opts.random ?? Math.random;
    this.nextPollAt = this.timers.poll;
    this.uploader = new Uploader13({
      deviceId: opts.id,
      psk: opts.psk,
      post: opts.post,
      clock: () => this.unixMs,
      sleep: opts.sleep,
      nonce: this.nonce,
    });
  }

  get version(): string {
    return this.running;
  }

  /** The unix clock (ms): NTP-set at the start, running at the device's speed. */
  get unixMs(): number {
    return this.unixStart + this.elapsed;
  }

  /** Sets the unix clock (NTP at power-on). */
  setClock(unixMs: number): void {
    this.unixStart = unixMs - this.elapsed;
  }

  get millis(): number {
    return BOOT_MILLIS + this.elapsed - this.bootAt;
  }

  /** Device time since the simulation started it (ms). */
  get now(): number {
    return this.elapsed;
  }

  /** The register layout the poll task reads. */
  get layout(): readonly number[] {
    return this.active.registers;
  }

  /** The timers running now, floored so that a server's 0 does not make the simulation spin. */
  get timers(): Timers13 {
    const ms = (us: number, floor: number) => Math.max(floor, us / 1000);
    const a = this.active;
    return {
      poll: ms(a.pollUs, TIMER_FLOOR_MS.poll),
      upload: ms(a.uploadUs, TIMER_FLOOR_MS.other),
      config: ms(a.configUs, TIMER_FLOOR_MS.other),
      commands: ms(a.commandUs, TIMER_FLOOR_MS.other),
      firmware: ms(a.otaUs, TIMER_FLOOR_MS.other),
      energy: ms(a.energyUs, TIMER_FLOOR_MS.other),
    };
  }

  /** The seconds the upload document names as `sampling_interval` (ConfigManager's poll period). */
  get samplingIntervalS(): number {
    return Math.trunc(this.config.pollUs / 1_000_000);
  }

  /** Runs the poll task up to device time `t`: every sample due is read (or lost). */
  advanceTo(t: number): FaultEvent13[] {
    const faults: FaultEvent13[] = [];
    while (this.nextPollAt <= t) {
      this.elapsed = this.nextPollAt;
      const fault = this.poll();
      if (fault) faults.push(fault);
      this.nextPollAt += this.timers.poll;
    }
    this.elapsed = Math.max(this.elapsed, t);
    return faults;
  }

  private poll(): FaultEvent13 | undefined {
    const fault = this.drawFault();
    if (fault && !fault.success) {
      this.discardedSamples++;
      return fault;
    }
    const regs = this.inverter.read(this.opts.dayStart + this.elapsed);
    if (this.pipelinePending) {
      this.discardedSamples++;
      return fault;
    }
    this.samples.push({ values: this.layout.map((r) => regs[r]), at: this.unixMs });
    if (this.samples.length > SAMPLE_RING_13) {
      this.samples.shift();
      this.discardedSamples++;
    }
    return fault;
  }

  /** A Modbus fault on this poll (as configured), with the recovery's outcome. */
  private drawFault(): FaultEvent13 | undefined {
    const rates = this.opts.faults;
    if (!rates) return undefined;
    let r = this.random();
    for (const type of FAULT_TYPES_13) {
      const rate = rates[type] ?? 0;
      if (r >= rate) {
        r -= rate;
        continue;
      }
      // Retried with backoff (up to 3 times); most faults clear, the rest cost the sample.
      const success = this.random() < 0.85;
      const retries = success ? 1 + Math.floor(this.random() * 3) : 3;
      const action = success ? (type === 'timeout' ? 'reset_connection' : 'retry_read') : 'skip_sample';
      return {
        device_id: this.id,
        timestamp: Math.floor(this.unixMs / 1000),
        fault_type: type,
        recovery_action: action,
        success,
        details: `Modbus read of ${this.layout.length} registers: ${type.replace(/_/g, ' ')}; ${
          success ? `recovered after ${retries} ${retries === 1 ? 'retry' : 'retries'}` : 'sample skipped'
        }`,
        retry_count: retries,
      };
    }
    return undefined;
  }

  /**
   * The upload task's tick: every sample since the last upload compressed as one packet into the
   * ring, then one upload cycle. Returns the cycle, or undefined when there was nothing to send.
   */
  async uploadTick(): Promise<Awaited<ReturnType<Uploader13['upload']>>> {
    if (this.samples.length > 0) {
      const batch = this.samples;
      this.samples = [];
      this.uploader.queue(
        compressBatch13(
          this.layout,
          batch.map((s) => s.values),
          batch.map((s) => s.at),
          this.temporal,
        ),
      );
    }
    return this.uploader.upload(this.samplingIntervalS);
  }

  /**
   * After an upload cycle: a stored change starts running once an upload went through (or there
   * was nothing to send). Returns the keys that took effect.
   */
  afterUpload(ok: boolean): Config13Key[] {
    if (!ok || !this.changePending) return [];
    const before = this.active;
    this.active = { ...this.config, registers: [...this.config.registers] };
    this.changePending = false;
    this.pipelinePending = false;
    // The poll task re-arms with its (new) period.
    this.nextPollAt = this.elapsed + this.timers.poll;
    return changedKeys(before, this.active);
  }

  /** An answer to `GET /config/<id>`: stored in NVS and the current config at once, run after the next upload. */
  takeConfig(code: number, body: string): ConfigReaction13 {
    const r = reactToConfig13(code, body, this.nvs, this.config, Math.floor(this.unixMs / 1000));
    this.nvs = r.nvs;
    this.config = r.config;
    if (r.changed) {
      this.changePending = true;
      if (r.keys.some((k) => k === 'sampling_interval' || k === 'upload_interval' || k === 'registers')) {
        this.pipelinePending = true;
      }
    }
    return r;
  }

  /** `POST /config/<id>/current` at boot. */
  currentConfig(): ReturnType<typeof currentConfigBody13> {
    return currentConfigBody13(this.nvs, this.config, Math.floor(this.unixMs / 1000));
  }

  /** `POST /devices` at boot (main.cpp:57-130). */
  registration(): Record<string, string> {
    return {
      device_id: this.id,
      device_name: 'EcoWatt Smart Monitor',
      firmware_version: this.running,
      location: 'Simulated site',
      description: 'EcoWatt 1.3 device simulated by ecowatt simulate',
    };
  }

  /** `POST /power/energy/<id>` (task_manager.cpp:1188-1230): hand-built JSON, techniques as a string. */
  energyReport(): string {
    const uptime = Math.round(this.millis);
    const enabled = this.nvs.powerEnabled;
    const techniques = this.nvs.techniques > 0x0f ? 0x08 : this.nvs.techniques;
    // Power management off: every millisecond at full power. On: mostly normal and low power.
    const share = enabled
      ? { high: 0.1, normal: 0.55, low: 0.3, sleep: 0.05 }
      : { high: 1, normal: 0, low: 0, sleep: 0 };
    const high = Math.round(uptime * share.high);
    const normal = Math.round(uptime * share.normal);
    const low = Math.round(uptime * share.low);
    const sleep = Math.max(0, uptime - high - normal - low);
    const fullMa = 160;
    const avg = enabled
      ? fullMa * (share.high + 0.8 * share.normal + 0.45 * share.low + 0.1 * share.sleep)
      : fullMa;
    const hours = uptime / 3_600_000;
    const saved = (fullMa - avg) * hours;
    const peripheral = enabled && techniques & 0x08 ? saved * 0.4 : 0;
    const f = (x: number) => x.toFixed(2);
    return (
      `{"device_id":"${this.id}","timestamp":${Math.floor(this.unixMs)},"power_management":{` +
      `"enabled":${enabled},"techniques":"0x${techniques.toString(16).toUpperCase().padStart(2, '0')}",` +
      `"avg_current_ma":${f(avg)},"energy_saved_mah":${f(saved)},"peripheral_savings_mah":${f(peripheral)},` +
      `"uptime_ms":${uptime},"high_perf_ms":${high},"normal_ms":${normal},"low_power_ms":${low},"sleep_ms":${sleep}}}`
    );
  }

  /**
   * A reboot (an installed image, or a power cycle): RAM is lost (samples, the upload ring, the
   * compressor's temporal state, settings not yet running are read back from NVS), NVS is kept
   * (the nonce, raised to the boot floor, the settings and the version). Returns the settings that
   * run from now on because of it (stored changes that had not taken effect yet).
   */
  reboot(version?: string): Config13Key[] {
    const before = this.active;
    if (version !== undefined) this.running = version;
    this.reboots++;
    this.discardedSamples += this.samples.length;
    this.samples = [];
    this.uploader.clear();
    this.temporal = new Temporal13State();
    this.nonce.value = bootNonce13(this.nonce.value);
    this.config = bootConfig13(this.nvs);
    this.active = this.config;
    this.changePending = false;
    this.pipelinePending = false;
    this.bootAt = this.elapsed;
    this.nextPollAt = this.elapsed + this.timers.poll;
    return changedKeys(before, this.active);
  }
}
