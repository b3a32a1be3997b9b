/**
 * Remote configuration as a generation 1.3 device takes it (PROTOCOL-1.3.md §6, config_manager.cpp
 * `checkForChanges`, nvs.cpp), pure: what an answer to `GET /config/<id>` does to the device's NVS
 * and to the configuration it runs, whether it acknowledges, and the documents it posts
 * (`/acknowledge`, `/current`). Checked against every config vector of head/control.json.
 *
 * Two views, as on the device: `Nvs13` is what survives a reboot; `Config13` is what
 * ConfigManager and the task timers hold now. They differ where NVS refuses a value the running
 * configuration still takes (an interval of 0, an energy period below 60 s).
 */

import { REGISTER_NAMES13 } from '../protocol/gen13/index.js';

/** Microseconds per second. */
const US = 1_000_000;
const U32_MAX = 0xffff_ffff;

/** REGISTER_MAP[].name at 1.3 (acquisition.h), by RegID. */
export const REGISTER_NAMES_13 = REGISTER_NAMES13;

/** The firmware's defaults (system_config.h, test_config.h), µs; registers: all ten (§1, §3). */
export const DEFAULTS_13 = {
  pollUs: 5 * US,
  uploadUs: 15 * US,
  configUs: 5 * US,
  commandUs: 10 * US,
  otaUs: 6000 * US,
  energyUs: 300 * US,
  powerEnabled: false,
  techniques: 0x08,
  registers: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as readonly number[],
} as const;

/** The minimums below which an NVS read falls back to the default (nvs.cpp). */
export const NVS_MINIMUM_US = {
  poll: 100_000,
  upload: US,
  config: US,
  command: US,
  ota: US,
  energy: 60 * US,
} as const;

/** What the device keeps in NVS (`freq/*`, `power/*`, `readregs/*`). `null`: the key was never written. */
export interface Nvs13 {
  pollUs: number;
  uploadUs: number;
  configUs: number | null;
  commandUs: number | null;
  otaUs: number | null;
  powerEnabled: boolean;
  techniques: number;
  energyUs: number;
  /** `readregs/regs`: the selection as a bitmask of RegIDs. */
  regMask: number;
  /** `readregs/reg_count` as stored (the number of names that matched, duplicates included). */
  regCount: number;
}

/** What the device runs now (ConfigManager's current config and the task timers), µs. */
export interface Config13 {
  pollUs: number;
  uploadUs: number;
  configUs: number;
  commandUs: number;
  otaUs: number;
  energyUs: number;
  /** RegIDs in the order the device reads them (ascending, from the bitmask). */
  registers: number[];
}

/** Configuration keys of a pending change, as the firmware names them. */
export type Config13Key =
  | 'sampling_interval'
  | 'upload_interval'
  | 'config_poll_interval'
  | 'command_poll_interval'
  | 'firmware_check_interval'
  | 'energy_poll_interval'
  | 'registers'
  | 'power_management';

export function maskOf(registers: readonly number[]): number {
  return registers.reduce((m, r) => m | (1 << r), 0);
}

export function registersOfMask(mask: number): number[] {
  return REGISTER_NAMES_13.map((_, i) => i).filter((i) => (mask & (1 << i)) !== 0);
}

/** A device fresh from the factory (or after an NVS erase), with the defaults written. */
export function freshNvs13(registers: readonly number[] = DEFAULTS_13.registers): Nvs13 {
  return {
    pollUs: DEFAULTS_13.pollUs,
    uploadUs: DEFAULTS_13.uploadUs,
    configUs: null,
    commandUs: null,
    otaUs: null,
    powerEnabled: DEFAULTS_13.powerEnabled,
    techniques: DEFAULTS_13.techniques,
    energyUs: DEFAULTS_13.energyUs,
    regMask: maskOf(registers),
    regCount: registers.length,
  };
}

const atLeast = (stored: number | null, min: number, fallback: number) =>
  stored !== null && stored >= min ? stored : fallback;

/** The NVS getters: what a boot reads (values below the minimums fall back to the defaults). */
export function bootConfig13(nvs: Nvs13): Config13 {
  return {
    pollUs: atLeast(nvs.pollUs, NVS_MINIMUM_US.poll, DEFAULTS_13.pollUs),
    uploadUs: atLeast(nvs.uploadUs, NVS_MINIMUM_US.upload, DEFAULTS_13.uploadUs),
    configUs: atLeast(nvs.configUs, NVS_MINIMUM_US.config, DEFAULTS_13.configUs),
    commandUs: atLeast(nvs.commandUs, NVS_MINIMUM_US.command, DEFAULTS_13.commandUs),
    otaUs: atLeast(nvs.otaUs, NVS_MINIMUM_US.ota, DEFAULTS_13.otaUs),
    energyUs: nvsEnergyUs(nvs),
    registers: nvs.regCount > 0 ? registersOfMask(nvs.regMask) : [...DEFAULTS_13.registers],
  };
}

const nvsEnergyUs = (nvs: Nvs13) => atLeast(nvs.energyUs, NVS_MINIMUM_US.energy, DEFAULTS_13.energyUs);
const nvsTechniques = (nvs: Nvs13) => (nvs.techniques > 0x0f ? DEFAULTS_13.techniques : nvs.techniques);

// ---------------------------------------------------------------------------------------------
// ArduinoJson 6.21 conversions, as the firmware's reads see a JSON value

/** `as<uintN_t>()`: in-range numbers (floats truncated), numeric strings, booleans; else 0. */
export function asUnsigned(v: unknown, max: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (typeof v === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) n = Number(v);
  else return 0;
  if (!Number.isFinite(n) || n < 0 || n >= max + 1) return 0;
  return Math.trunc(n);
}

/** `as<bool>()`: false for false, 0 and null; true for any other value. */
function asBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return v !== null && v !== undefined;
}

const asObject = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

// ---------------------------------------------------------------------------------------------

export interface ConfigReaction13 {
  nvs: Nvs13;
  config: Config13;
  /** The firmware's `anyChanges`: an acknowledgement is posted. */
  changed: boolean;
  /** Keys that counted as changes. */
  keys: Config13Key[];
  /** The acknowledgement body (when `changed`). */
  ack: Ack13 | null;
}

export interface Ack13 {
  status: 'applied';
  timestamp: number;
  error_msg: string;
  power_management: { enabled: boolean; techniques: number; energy_poll_freq: number };
}

/** The pending change of an answer, or null when there is none to apply. */
function pendingChange(code: number, body: string): Record<string, unknown> | null {
  // Any HTTP code with a JSON body is parsed: a 500 that looks pending is applied (§6).
  if (code <= 0) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return null;
  }
  const root = asObject(doc);
  // `responsedoc["is_pending"] | false`: only the boolean true.
  if (root?.is_pending !== true) return null;
  const wrapper = asObject(root.pending_config);
  if (!wrapper) return null;
  return Object.hasOwn(wrapper, 'config_update') ? asObject(wrapper.config_update) : wrapper;
}

/**
 * What one answer to `GET /config/<id>` does (config_manager.cpp:66-360). `timestampS` is the
 * device clock (unix seconds) for the acknowledgement.
 */
export function reactToConfig13(
  code: number,
  body: string,
  nvsBefore: Nvs13,
  configBefore: Config13,
  timestampS: number,
): ConfigReaction13 {
  const nvs = { ...nvsBefore };
  const config = { ...configBefore, registers: [...configBefore.registers] };
  const keys: Config13Key[] = [];
  const change = pendingChange(code, body);
  if (change) {
    const has = (k: string) => Object.hasOwn(change, k);
    const seconds = (k: string) => asUnsigned(change[k], U32_MAX) * US;
    // Sampling and upload: compared with the running configuration; NVS refuses 0.
    if (has('sampling_interval')) {
      const us = seconds('sampling_interval');
      if (us !== config.pollUs) {
        if (us > 0) nvs.pollUs = us;
        config.pollUs = us;
        keys.push('sampling_interval');
      }
    }
    if (has('upload_interval')) {
      const us = seconds('upload_interval');
      if (us !== config.uploadUs) {
        if (us > 0) nvs.uploadUs = us;
        config.uploadUs = us;
        keys.push('upload_interval');
      }
    }
    // nvs::change{Config,Command,Ota}Freq store any non-zero value and say so: no comparison.
    for (const [key, slot] of [
      ['config_poll_interval', 'configUs'],
      ['command_poll_interval', 'commandUs'],
      ['firmware_check_interval', 'otaUs'],
    ] as const) {
      if (!has(key)) continue;
      const us = seconds(key);
      if (us > 0) {
        nvs[slot] = us;
        config[slot] = us;
        keys.push(key);
      }
    }
    if (has('registers') && Array.isArray(change.registers) && change.registers.length > 0) {
      let mask = 0;
      let count = 0;
      for (const name of change.registers) {
        const id = typeof name === 'string' ? (REGISTER_NAMES_13 as readonly string[]).indexOf(name) : -1;
        if (id >= 0) {
          mask |= 1 << id;
          count++;
        }
      }
      // nvs::saveReadRegs refuses more than REG_MAX + 1 names; the selection is read from the mask.
      if (count > 0 && count <= REGISTER_NAMES_13.length + 1) {
        nvs.regMask = mask;
        nvs.regCount = count;
        config.registers = registersOfMask(mask);
        keys.push('registers');
      }
    }
    const pm = has('power_management') ? asObject(change.power_management) : null;
    if (pm) {
      let pmChanged = false;
      if (Object.hasOwn(pm, 'enabled')) {
        const enabled = asBool(pm.enabled);
        if (enabled !== nvs.powerEnabled) {
          nvs.powerEnabled = enabled;
          pmChanged = true;
        }
      }
      if (Object.hasOwn(pm, 'techniques')) {
        const t = asUnsigned(pm.techniques, 0xff);
        if (t !== nvsTechniques(nvs)) {
          // setPowerTechniques refuses more than the four technique bits; still a change.
          if (t <= 0x0f) nvs.techniques = t;
          pmChanged = true;
        }
      }
      if (pmChanged) keys.push('power_management');
    }
    if (has('energy_poll_interval')) {
      const us = seconds('energy_poll_interval');
      if (us !== nvsEnergyUs(nvs)) {
        // NVS keeps at least a minute; the report timer takes the value regardless.
        if (us >= NVS_MINIMUM_US.energy) nvs.energyUs = us;
        config.energyUs = us;
        keys.push('energy_poll_interval');
      }
    }
  }
  const changed = keys.length > 0;
  return { nvs, config, changed, keys, ack: changed ? ackBody13(nvs, timestampS) : null };
}

/** `POST /config/<id>/acknowledge` (sendConfigAcknowledgment): the power settings from NVS. */
export function ackBody13(nvs: Nvs13, timestampS: number): Ack13 {
  return {
    status: 'applied',
    timestamp: timestampS,
    error_msg: 'Configuration updated successfully',
    power_management: {
      enabled: nvs.powerEnabled,
      techniques: nvsTechniques(nvs),
      // The µs value cast to uint32.
      energy_poll_freq: nvsEnergyUs(nvs) % 2 ** 32,
    },
  };
}

/** `POST /config/<id>/current` at boot (sendCurrentConfig), keys in the firmware's order. */
export function currentConfigBody13(nvs: Nvs13, config: Config13, timestampS: number) {
  const s = (us: number) => Math.trunc(us / US) % 2 ** 32;
  return {
    sampling_interval: s(config.pollUs),
    upload_interval: s(config.uploadUs),
    config_poll_interval: s(config.configUs),
    command_poll_interval: s(config.commandUs),
    firmware_check_interval: s(config.otaUs),
    energy_poll_interval: s(nvsEnergyUs(nvs)),
    power_management: { enabled: nvs.powerEnabled, techniques: nvsTechniques(nvs) },
    compression_enabled: true,
    timestamp: timestampS,
    registers: config.registers.map((r) => REGISTER_NAMES_13[r]),
  };
}
