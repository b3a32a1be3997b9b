/**
 * The configuration channel of generation 1.3 (PROTOCOL-1.3.md §6), pure: the `GET /config/<id>`
 * answer in the shape config_manager.cpp applies, and the two documents the device posts, the
 * acknowledgement after it changed something and its running configuration at boot.
 *
 * The firmware range-checks nothing (0 s and 4294967 s are stored, a negative number becomes 0),
 * so every value is checked again here, with the ranges of config-schema.ts, right before it is
 * put into an answer: a value that slipped into storage some other way is never offered.
 */

import {
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigValue,
  INTERVAL_KEYS,
  type IntervalKey,
} from '../model/config.js';
import { ApiError } from '../model/errors.js';
import type { FieldErrors } from '../model/field-errors.js';
import { findRegister, registerById } from '../protocol/registers.js';
import { parseConfigPatch, sameValue } from './config-schema.js';

export const GEN13_FIRMWARE = '1.3';

/** What one answer asks a 1.3 device to change; absent keys stay as they are. */
export type Config13Offer = Partial<Record<ConfigKey, ConfigValue>>;

export type Config13Answer =
  | { is_pending: false }
  | { is_pending: true; pending_config: { config_update: Record<string, unknown> } };

/** Nothing pending: the device reads `is_pending` (absent = false) and nothing else. */
/** The 1.3 firmware's defaults (PROTOCOL-1.3.md §3): 5 s sampling, 15 s uploads, all 10 registers. */
export const GEN13_DEFAULTS = Object.freeze({ sampling_interval: 5, upload_interval: 15, registers: 10 });

/**
 * Most values one 1.3 packet may hold and still reach us whole: every batch is compressed once
 * per upload, bit-packing (one of the candidates, so never beaten by a larger output) takes at
 * most 3 + 2n bytes, and the firmware cuts `compressed_binary` after 189 bytes (§3 point 5).
 */
export const GEN13_MAX_VALUES_PER_PACKET = Math.floor((189 - 3) / 2);
/** Samples the 1.3 firmware buffers between uploads (task_manager.h:62). */
export const GEN13_SAMPLE_RING = 50;

/**
 * Why a cadence would make the 1.3 firmware lose data, or undefined: ceil(upload / sampling)
 * samples of every selected register make one packet per upload.
 */
export function packetOverflow13(sampling: number, upload: number, registers: number): string | undefined {
  const samples = Math.ceil(upload / Math.max(1, sampling));
  if (samples > GEN13_SAMPLE_RING) {
    return (
      `upload_interval ${upload} s with sampling_interval ${sampling} s gathers ${samples} samples per upload; ` +
      `the 1.3 firmware keeps the last ${GEN13_SAMPLE_RING} and drops the rest: upload more often or sample less often`
    );
  }
  const values = samples * registers;
  if (values <= GEN13_MAX_VALUES_PER_PACKET) return undefined;
  return (
    `upload_interval ${upload} s with sampling_interval ${sampling} s and ${registers} registers makes packets of ` +
    `${values} values; the 1.3 firmware cuts packets above 189 bytes (${GEN13_MAX_VALUES_PER_PACKET} values at most), ` +
    'losing the rest: upload more often, sample less often or select fewer registers'
  );
}

export const CONFIG13_IDLE: Readonly<{ is_pending: false }> = Object.freeze({ is_pending: false });

/**
 * The ranges the 1.3 firmware declares for its timers (include/application/system_config.h,
 * `MIN_/MAX_*_FREQUENCY_US`, and 60 s for the energy report in nvs.cpp), narrower than what
 * `config set` allows for every generation. The firmware does not check them when it applies a
 * value, but a stored value below a minimum reads back as the default at the next boot, so a
 * value outside them would run until a reboot and then silently change.
 */
export const GEN13_INTERVAL_LIMITS: Readonly<Record<IntervalKey, { min: number; max: number }>> = {
  sampling_interval: { min: 1, max: 3_600 },
  upload_interval: { min: 10, max: 3_600 },
  config_poll_interval: { min: 1, max: 300 },
  command_poll_interval: { min: 5, max: 300 },
  firmware_check_interval: { min: 30, max: 86_400 },
  energy_poll_interval: { min: 60, max: 86_400 },
};

/**
 * Splits an offer into what may leave the server and what may not (with the reason): the same
 * checks as `config set`, repeated at the last moment, then the 1.3 firmware's own ranges.
 */
export function checkOffer13(offer: Config13Offer): { safe: Config13Offer; refused: FieldErrors } {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(offer)) if (v !== undefined) raw[k] = v;
  const { patch, errors } = parseConfigPatch(raw);
  const safe: Config13Offer = {};
  const refused: FieldErrors = { ...errors };
  for (const key of CONFIG_KEYS) {
    const v = patch[key];
    if (v === undefined) continue;
    // `null` would mean "remove"; parsed registers are normalised names and must be what was asked.
    if (v === null) refused[key] = 'no value';
    else if (key === 'registers' && !sameValue(v, offer[key])) refused[key] = 'not in REGISTER_MAP spelling';
    else if (isIntervalKey(key) && !within(key, v as number)) {
      const { min, max } = GEN13_INTERVAL_LIMITS[key];
      refused[key] = `the 1.3 firmware takes ${min} to ${max} s for ${key} (system_config.h), not ${v}`;
    } else safe[key] = v;
  }
  return { safe, refused };
}

/**
 * The answer the 1.3 firmware applies: `{"is_pending":true,"pending_config":{"config_update":{…}}}`
 * with whole seconds, register names, and `power_management` as `{"enabled": bool}` (the model
 * keeps only whether it is on; the device's `techniques` stay as they are). Keys the checks refuse
 * are left out; with nothing left the answer is the idle one.
 */
export function buildConfig13Answer(offer: Config13Offer): Config13Answer {
  const { safe } = checkOffer13(offer);
  const update: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const v = safe[key];
    if (v === undefined) continue;
    update[key] = key === 'power_management' ? { enabled: v } : Array.isArray(v) ? [...v] : v;
  }
  if (Object.keys(update).length === 0) return { ...CONFIG13_IDLE };
  return { is_pending: true, pending_config: { config_update: update } };
}

/** Register selections compare as sets: the device keeps a bitmask and reads in RegID order. */
export function sameRunning13(
  key: ConfigKey,
  a: ConfigValue | undefined,
  b: ConfigValue | undefined,
): boolean {
  if (key === 'registers' && Array.isArray(a) && Array.isArray(b)) {
    return sameValue(byRegisterId(a), byRegisterId(b));
  }
  return sameValue(a, b);
}

const isIntervalKey = (k: ConfigKey): k is IntervalKey => (INTERVAL_KEYS as readonly string[]).includes(k);

function within(key: IntervalKey, v: number): boolean {
  const { min, max } = GEN13_INTERVAL_LIMITS[key];
  return v >= min && v <= max;
}

function byRegisterId(names: readonly string[]): string[] {
  return [...names].sort((x, y) => (findRegister(x)?.id ?? 99) - (findRegister(y)?.id ?? 99));
}

function malformed(what: string, fields: FieldErrors): never {
  const names = Object.keys(fields);
  throw new ApiError('malformed_payload', `${what}: ${names.map((n) => `${n}: ${fields[n]}`).join('; ')}`, {
    details: { field: names[0], fields },
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isUint32 = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;

export interface PowerManagementReport {
  enabled: boolean;
  /** Bitmask of power-saving techniques (uint8), when the device said. */
  techniques: number | null;
}

function parsePowerManagement(v: unknown, fields: FieldErrors): PowerManagementReport | null {
  if (v === undefined) return null;
  if (!isObject(v) || typeof v.enabled !== 'boolean') {
    fields.power_management = 'expected {"enabled": true|false, "techniques"?: 0…255}';
    return null;
  }
  const t = v.techniques;
  if (t !== undefined && !(isUint32(t) && t <= 255)) {
    fields['power_management.techniques'] = 'expected an integer from 0 to 255';
    return null;
  }
  return { enabled: v.enabled, techniques: t === undefined ? null : t };
}

/** `POST /config/<id>/acknowledge`, as config_manager.cpp sends it after applying a change. */
export interface Acknowledgement13 {
  status: 'applied' | 'failed';
  /** The device's clock (unix seconds, or seconds since boot when it has no time). */
  deviceTime: number | null;
  message: string | null;
  powerManagement: PowerManagementReport | null;
}

export function parseAcknowledgement13(doc: Record<string, unknown>): Acknowledgement13 {
  const fields: FieldErrors = {};
  const raw = typeof doc.status === 'string' ? doc.status.trim().toLowerCase() : undefined;
  const status = raw === 'applied' || raw === 'failed' ? raw : undefined;
  if (status === undefined) fields.status = 'expected "applied" or "failed"';
  const ts = doc.timestamp;
  if (ts !== undefined && !isUint32(ts)) fields.timestamp = 'expected unix seconds';
  const msg = doc.error_msg;
  if (msg !== undefined && msg !== null && typeof msg !== 'string') fields.error_msg = 'expected a string';
  const powerManagement = parsePowerManagement(doc.power_management, fields);
  if (Object.keys(fields).length > 0) malformed('Invalid acknowledgement, nothing recorded', fields);
  return {
    status: status as 'applied' | 'failed',
    deviceTime: typeof ts === 'number' ? ts : null,
    message: typeof msg === 'string' ? msg.slice(0, 1000) : null,
    powerManagement,
  };
}

/** `POST /config/<id>/current`: what the device runs, as it reports it at boot. */
export interface RunningConfig13 {
  /** Keys the device reported, as the model spells them (out-of-range values included: it runs them). */
  values: Config13Offer;
  techniques: number | null;
  /** Register names the server does not know (left out of `values.registers`). */
  unknownRegisters: string[];
}

export function parseRunningConfig13(doc: Record<string, unknown>): RunningConfig13 {
  const fields: FieldErrors = {};
  const values: Config13Offer = {};
  for (const key of INTERVAL_KEYS) {
    const v = doc[key];
    if (v === undefined) continue;
    if (isUint32(v)) values[key] = v;
    else fields[key] = 'expected whole seconds (uint32)';
  }
  const unknownRegisters: string[] = [];
  const regs = doc.registers;
  if (regs !== undefined) {
    if (!Array.isArray(regs) || regs.some((r) => typeof r !== 'string')) {
      fields.registers = 'expected a list of register names';
    } else {
      const ids = new Set<number>();
      for (const name of regs as string[]) {
        const r = findRegister(name);
        if (r) ids.add(r.id);
        else unknownRegisters.push(name.slice(0, 40));
      }
      values.registers = [...ids].sort((a, b) => a - b).map((id) => registerById(id)?.name ?? String(id));
    }
  }
  const pm = parsePowerManagement(doc.power_management, fields);
  if (pm) values.power_management = pm.enabled;
  if (Object.keys(fields).length > 0) malformed('Invalid running configuration, nothing recorded', fields);
  if (Object.keys(values).length === 0) {
    malformed('Empty running configuration, nothing recorded', {
      body: `name at least one of ${CONFIG_KEYS.join(', ')}`,
    });
  }
  return { values, techniques: pm?.techniques ?? null, unknownRegisters };
}
