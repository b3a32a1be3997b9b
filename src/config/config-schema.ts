/**
 * The ranges of the remote-configuration keys (named as the later firmware names them, listed in
 * `model/config.ts`) and the rules between them. Pure: the admin API, the MQTT settings path and
 * the storage transaction all validate with these functions, so a value the device cannot take is
 * never stored.
 */
import {
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigPatch,
  type ConfigValue,
  type DeviceConfig,
  INTERVAL_KEYS,
  type IntervalKey,
} from '../model/config.js';
import type { FieldErrors } from '../model/field-errors.js';
import { findRegister, registerById } from '../protocol/registers.js';

/**
 * Whole seconds only: the field device reads `newPollTimer` as an integer, so 0.5 becomes 0, and
 * 0 is refused by its NVS while the "changed" flag is still cleared (PROTOCOL.md §5.3).
 */
export const INTERVAL_RANGES: Readonly<Record<IntervalKey, { min: number; max: number }>> = {
  sampling_interval: { min: 1, max: 3_600 },
  upload_interval: { min: 1, max: 86_400 },
  // The firmware check downloads a manifest: more often than once a minute only loads the server.
  firmware_check_interval: { min: 60, max: 7 * 86_400 },
  command_poll_interval: { min: 1, max: 86_400 },
  config_poll_interval: { min: 1, max: 86_400 },
  // The 1.3 firmware refuses to store less than 60 s (nvs::setEnergyPollFreq) yet runs it until
  // its next boot, so a shorter interval would be applied and then silently lost.
  energy_poll_interval: { min: 60, max: 86_400 },
};

/** What an e84f720 device runs when nothing else was ever stored in its NVS (§1.2, §4.1). */
export const FIRMWARE_DEFAULTS = Object.freeze({
  sampling_interval: 2,
  upload_interval: 15,
  registers: Object.freeze(['Vac1', 'Iac1', 'Ipv1', 'Pac', 'Ipv2', 'Temp']) as readonly string[],
});

/** Samples per packet, and the most packets one upload may hold before the device breaks (§1.4). */
export const SAMPLES_PER_PACKET = 5;
export const MAX_SAFE_PACKETS_PER_UPLOAD = 3;

export const isConfigKey = (k: string): k is ConfigKey => (CONFIG_KEYS as readonly string[]).includes(k);
const isIntervalKey = (k: ConfigKey): k is IntervalKey => (INTERVAL_KEYS as readonly string[]).includes(k);

function parseInterval(key: IntervalKey, v: unknown): number | string {
  const { min, max } = INTERVAL_RANGES[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) return `expected whole seconds from ${min} to ${max}`;
  if (!Number.isInteger(v)) {
    return `must be whole seconds (the device reads ${v} as ${Math.trunc(v)}); expected ${min} to ${max}`;
  }
  if (v < min || v > max) return `expected whole seconds from ${min} to ${max}, got ${v}`;
  return v;
}

/** Register names in any spelling (`Vac1`, `VAC1`, `REG_VAC1`) or RegIDs → REGISTER_MAP names. */
export function parseRegisterSelection(v: unknown): string[] | string {
  if (!Array.isArray(v)) return 'expected a list of register names, e.g. ["Vac1", "Pac"]';
  if (v.length === 0) return 'select at least one register';
  const names: string[] = [];
  for (const item of v) {
    const r =
      typeof item === 'string'
        ? findRegister(item)
        : typeof item === 'number'
          ? registerById(item)
          : undefined;
    if (!r) return `unknown register ${JSON.stringify(item)}`;
    if (names.includes(r.name)) return `${r.name} is named twice`;
    names.push(r.name);
  }
  return names;
}

function parseValue(key: ConfigKey, v: unknown): ConfigValue | string {
  if (isIntervalKey(key)) return parseInterval(key, v);
  if (key === 'registers') return parseRegisterSelection(v);
  return typeof v === 'boolean' ? v : 'expected true or false';
}

/**
 * Reads a partial configuration: every key is checked and every problem reported, so one answer
 * names all the fields to fix. `null` removes a key from the scope it is written to.
 */
export function parseConfigPatch(body: Record<string, unknown>): { patch: ConfigPatch; errors: FieldErrors } {
  const patch: ConfigPatch = {};
  const errors: FieldErrors = {};
  for (const [key, raw] of Object.entries(body)) {
    if (!isConfigKey(key)) {
      errors[key] = `unknown key; expected one of ${CONFIG_KEYS.join(', ')}`;
      continue;
    }
    if (raw === null) {
      patch[key] = null;
      continue;
    }
    const parsed = parseValue(key, raw);
    if (typeof parsed === 'string') errors[key] = parsed;
    else patch[key] = parsed;
  }
  return { patch, errors };
}

/** Scope values after a patch: `null` deletes, anything else replaces. */
export function applyPatch(values: DeviceConfig, patch: ConfigPatch): DeviceConfig {
  const out: Record<string, ConfigValue> = { ...values };
  for (const [key, v] of Object.entries(patch)) {
    if (v === null || v === undefined) delete out[key];
    else out[key] = v;
  }
  return out as DeviceConfig;
}

/** What a device is asked to run: fleet defaults, overridden by the device's own keys. */
export function mergeConfig(fleet: DeviceConfig, device: DeviceConfig): DeviceConfig {
  return { ...fleet, ...device };
}

/**
 * Rules between keys, checked on what the device would run (unset intervals are the firmware's
 * defaults). The e84f720 firmware makes one packet every 5 samples and serialises an upload into
 * 2048 bytes; an upload can hold ceil(upload / (5 × sampling)) packets, and 4 packets overflow the
 * buffer, after which the device never uploads again until it is rebooted (PROTOCOL.md §1.4).
 */
export function checkConfig(config: DeviceConfig, changed: readonly string[] = []): FieldErrors {
  const sampling = config.sampling_interval ?? FIRMWARE_DEFAULTS.sampling_interval;
  const upload = config.upload_interval ?? FIRMWARE_DEFAULTS.upload_interval;
  const packetEvery = SAMPLES_PER_PACKET * sampling;
  const limit = MAX_SAFE_PACKETS_PER_UPLOAD * packetEvery;
  if (upload <= limit) return {};
  const packets = Math.ceil(upload / packetEvery);
  // Blame the key the caller just changed, so the answer points at what to fix.
  const field =
    changed.includes('upload_interval') || !changed.includes('sampling_interval')
      ? 'upload_interval'
      : 'sampling_interval';
  return {
    [field]:
      `upload_interval ${upload} s with sampling_interval ${sampling} s lets one upload hold up to ${packets} ` +
      `packets (one every 5 × ${sampling} s); the e84f720 firmware overflows its 2048-byte upload buffer at 4 ` +
      `packets and then never uploads again until rebooted (PROTOCOL.md §1.4). Keep upload_interval at most ` +
      `${MAX_SAFE_PACKETS_PER_UPLOAD} × 5 × sampling_interval = ${limit} s.`,
  };
}

export const isSafeCadence = (sampling: number, upload: number): boolean =>
  Object.keys(checkConfig({ sampling_interval: sampling, upload_interval: upload })).length === 0;

export function sameValue(a: ConfigValue | undefined, b: ConfigValue | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}
