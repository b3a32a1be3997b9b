/**
 * What a generation 1.3 device reports besides its uploads (PROTOCOL-1.3.md §9): its registration
 * at boot, an energy report every `energy_poll_interval` and fault-recovery reports. Validation of
 * the bodies (every problem names its field) and the shapes the admin API shows.
 */
import { invalidParameter } from '../model/errors.js';
import type { ReportRetention, StoredDeviceReport } from '../ports/storage.js';

/** Newest reports kept per device: one registration, ~1 day of 5-min energy reports, 200 faults. */
export const REPORT_RETENTION = {
  registration: { perDevice: 1, unknownDevices: 500 },
  energy: { perDevice: 300, unknownDevices: 0 },
  fault: { perDevice: 200, unknownDevices: 0 },
} as const satisfies Record<string, ReportRetention>;

/** Power-management technique bits (firmware power_management.h). */
export const POWER_TECHNIQUES = [
  [0x01, 'wifi_modem_sleep'],
  [0x02, 'cpu_freq_scaling'],
  [0x04, 'light_sleep'],
  [0x08, 'peripheral_gating'],
] as const;

export const REGISTRATION_LIMITS = {
  device_name: 64,
  firmware_version: 32,
  location: 128,
  description: 256,
} as const;

const FAULT_TEXT_MAX = 64;
const FAULT_DETAILS_MAX = 256;
const MAX_MS = 2 ** 53 - 1;

type Doc = Record<string, unknown>;

/** The device id of a bare report body: checked as an authenticated control document's is. */
export { documentDeviceId as reportDeviceId } from './device-authenticator.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_BUT_SPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function text(doc: Doc, field: string, max: number, opts: { multiline?: boolean; required?: boolean } = {}) {
  const v = doc[field];
  if (v === undefined || v === null) {
    if (opts.required) invalidParameter(field, 'required');
    return null;
  }
  if (typeof v !== 'string') invalidParameter(field, 'expected a string');
  if (opts.required && v.length === 0) invalidParameter(field, 'must not be empty');
  if (v.length > max) invalidParameter(field, `at most ${max} characters`);
  if ((opts.multiline ? CONTROL_BUT_SPACE : CONTROL).test(v))
    invalidParameter(field, 'control characters are not allowed');
  return v;
}

function bool(doc: Doc, field: string, prefix = ''): boolean {
  const v = doc[field];
  if (typeof v !== 'boolean') invalidParameter(`${prefix}${field}`, 'expected true or false');
  return v;
}

function count(doc: Doc, field: string, max: number, prefix = ''): number {
  const v = doc[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    invalidParameter(`${prefix}${field}`, `expected an integer from 0 to ${max}`);
  }
  return v;
}

function amount(doc: Doc, field: string, prefix = ''): number {
  const v = doc[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > 1e12) {
    invalidParameter(`${prefix}${field}`, 'expected a number');
  }
  return v;
}

export interface Registration {
  device_name: string | null;
  firmware_version: string | null;
  location: string | null;
  description: string | null;
}

/** `POST /devices`: every field optional (the firmware sends all four), bounded, single-line. */
export function parseRegistration(doc: Doc): Registration {
  return {
    device_name: text(doc, 'device_name', REGISTRATION_LIMITS.device_name),
    firmware_version: text(doc, 'firmware_version', REGISTRATION_LIMITS.firmware_version),
    location: text(doc, 'location', REGISTRATION_LIMITS.location),
    description: text(doc, 'description', REGISTRATION_LIMITS.description, { multiline: true }),
  };
}

export interface EnergyReport {
  timestamp: number;
  enabled: boolean;
  techniques: string;
  avg_current_ma: number;
  energy_saved_mah: number;
  peripheral_savings_mah: number;
  uptime_ms: number;
  high_perf_ms: number;
  normal_ms: number;
  low_power_ms: number;
  sleep_ms: number;
}

/** `POST /power/energy/<id>`: `{device_id, timestamp, power_management{…}}`, kept flat. */
export function parseEnergyReport(doc: Doc): EnergyReport {
  const timestamp = count(doc, 'timestamp', MAX_MS);
  const pm = doc.power_management;
  if (typeof pm !== 'object' || pm === null || Array.isArray(pm)) {
    invalidParameter('power_management', 'expected an object');
  }
  const f = pm as Doc;
  const at = 'power_management.';
  const techniques = f.techniques;
  // A string ("0x0F"), as the firmware prints it: a bare number is not what it sends.
  if (typeof techniques !== 'string' || !/^0x[0-9a-fA-F]{1,8}$/.test(techniques)) {
    invalidParameter(`${at}techniques`, 'expected a hexadecimal string such as "0x0F"');
  }
  return {
    timestamp,
    enabled: bool(f, 'enabled', at),
    techniques,
    avg_current_ma: amount(f, 'avg_current_ma', at),
    energy_saved_mah: amount(f, 'energy_saved_mah', at),
    peripheral_savings_mah: amount(f, 'peripheral_savings_mah', at),
    uptime_ms: count(f, 'uptime_ms', MAX_MS, at),
    high_perf_ms: count(f, 'high_perf_ms', MAX_MS, at),
    normal_ms: count(f, 'normal_ms', MAX_MS, at),
    low_power_ms: count(f, 'low_power_ms', MAX_MS, at),
    sleep_ms: count(f, 'sleep_ms', MAX_MS, at),
  };
}

export interface FaultReport {
  timestamp: number;
  fault_type: string;
  recovery_action: string;
  success: boolean;
  details: string | null;
  retry_count: number;
}

/** `POST /fault/recovery`: `{device_id, timestamp, fault_type, recovery_action, success, details, retry_count}`. */
export function parseFaultReport(doc: Doc): FaultReport {
  return {
    timestamp: count(doc, 'timestamp', MAX_MS),
    fault_type: text(doc, 'fault_type', FAULT_TEXT_MAX, { required: true }) as string,
    recovery_action: text(doc, 'recovery_action', FAULT_TEXT_MAX, { required: true }) as string,
    success: bool(doc, 'success'),
    details: text(doc, 'details', FAULT_DETAILS_MAX, { multiline: true }),
    // uint8_t on the device
    retry_count: count(doc, 'retry_count', 255),
  };
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * A device timestamp as a time, when it is one: the firmware sends unix ms once its clock is set,
 * but a device without NTP counts from boot. Before 2001 (or past 2286) it is not shown as a date.
 */
function deviceTime(t: unknown): string | null {
  return typeof t === 'number' && t >= 1e12 && t < 1e13 ? iso(t) : null;
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function techniqueNames(techniques: string | null): string[] {
  if (techniques === null) return [];
  const bits = Number.parseInt(techniques.slice(2), 16);
  return POWER_TECHNIQUES.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
}

const MODES = ['high_perf', 'normal', 'low_power', 'sleep'] as const;

export function energyView(r: StoredDeviceReport) {
  const b = r.body;
  const modes = Object.fromEntries(MODES.map((m) => [m, num(b[`${m}_ms`]) ?? 0])) as Record<
    (typeof MODES)[number],
    number
  >;
  const total = MODES.reduce((n, m) => n + modes[m], 0);
  return {
    id: r.id,
    received_at: iso(r.receivedAt),
    timestamp: num(b.timestamp),
    device_time: deviceTime(b.timestamp),
    enabled: b.enabled === true,
    techniques: str(b.techniques),
    technique_names: techniqueNames(str(b.techniques)),
    avg_current_ma: num(b.avg_current_ma),
    energy_saved_mah: num(b.energy_saved_mah),
    peripheral_savings_mah: num(b.peripheral_savings_mah),
    uptime_ms: num(b.uptime_ms),
    /** Milliseconds in each power mode since boot. */
    modes_ms: modes,
    /** Each mode's share of the time in all modes, in percent (one decimal). */
    modes_percent: Object.fromEntries(
      MODES.map((m) => [m, total > 0 ? Math.round((modes[m] / total) * 1000) / 10 : 0]),
    ) as Record<(typeof MODES)[number], number>,
    source: r.source,
  };
}

export function faultView(r: StoredDeviceReport) {
  const b = r.body;
  return {
    id: r.id,
    received_at: iso(r.receivedAt),
    timestamp: num(b.timestamp),
    device_time: deviceTime(b.timestamp),
    fault_type: str(b.fault_type),
    recovery_action: str(b.recovery_action),
    success: b.success === true,
    details: str(b.details),
    retry_count: num(b.retry_count),
    source: r.source,
  };
}

/**
 * A registration as the operator sees it. `verified: false` is a pending registration: sent
 * unauthenticated for an id no device had yet, so its words are the sender's, not proven the
 * device's; `from_upload_address` tells whether it came from where the device's authenticated
 * uploads come from (`null`: no authenticated upload yet).
 */
export function registrationView(r: StoredDeviceReport, lastAuthSource?: string | null) {
  const b = r.body;
  return {
    device_id: r.deviceId,
    device_name: str(b.device_name),
    firmware_version: str(b.firmware_version),
    location: str(b.location),
    description: str(b.description),
    received_at: iso(r.receivedAt),
    source: r.source,
    verified: r.verified,
    ...(lastAuthSource !== undefined
      ? { from_upload_address: lastAuthSource === null ? null : lastAuthSource === r.source }
      : {}),
  };
}
