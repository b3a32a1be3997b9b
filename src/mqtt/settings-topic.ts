/**
 * The field dashboards' settings topic (PROTOCOL.md §5.4, §10.7): Node-RED publishes the §5.2
 * flags and values on `esp32/ecowatt_settings`. Parsing is pure; applying the result belongs to
 * the configuration service behind `FieldSettingsSink`.
 *
 * Who may publish here is the broker's business: the embedded broker refuses anonymous
 * publishers, and an external broker must do the same with its ACLs.
 */
import { findRegister, type Register, registerById } from '../protocol/registers.js';

export const SETTINGS_LEAF = 'ecowatt_settings';

/** `esp32/ecowatt_settings` and any other topic ending in `/ecowatt_settings` (up to 4 levels). */
export const SETTINGS_SUBSCRIPTIONS: readonly string[] = [
  SETTINGS_LEAF,
  `+/${SETTINGS_LEAF}`,
  `+/+/${SETTINGS_LEAF}`,
  `+/+/+/${SETTINGS_LEAF}`,
];

export function isSettingsTopic(topic: string): boolean {
  return topic === SETTINGS_LEAF || topic.endsWith(`/${SETTINGS_LEAF}`);
}

export interface ParsedFieldSettings {
  /** `Changed`: the device applies nothing unless it is true (§5.3). */
  changed: boolean;
  /** Seconds; present when `pollFreqChanged` is true. */
  pollIntervalSeconds?: number;
  /** Seconds; present when `uploadFreqChanged` is true. */
  uploadIntervalSeconds?: number;
  /** RegIDs in the order named, without repeats; present when `regsChanged` is true. */
  registers?: number[];
  /** Register names that matched no register (left out of `registers`). */
  unknownRegisters: string[];
  /** What the sender got wrong without making the message unusable. */
  warnings: string[];
}

export type FieldSettingsParse =
  | { ok: true; target: string | null; settings: ParsedFieldSettings }
  | { ok: false; error: string };

/** Where parsed settings go (remote configuration, issue 5). */
export interface FieldSettingsSink {
  /** `target`: the device named by `device_id`, or `null` for every field-fleet device. */
  applyFieldSettings(target: string | null, settings: ParsedFieldSettings): Promise<void>;
}

/** Largest timer accepted, seconds (the device keeps µs in 64 bits; a day is plenty). */
const MAX_TIMER_SECONDS = 86_400;
export const MAX_SETTINGS_PAYLOAD = 16 * 1024;

/** Node-RED names the export-limit register after its widget, not after the register map. */
const ALIASES: Record<string, number> = { export_power: 8, reg_export_power: 8 };

function lookupRegister(name: string): Register | undefined {
  const alias = ALIASES[name.trim().toLowerCase()];
  return alias !== undefined ? registerById(alias) : findRegister(name);
}

/** JSON booleans as Node-RED sends them; `"true"`/`"false"` and 0/1 from hand-made clients. */
function flag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 'true') return true;
  if (v === 0 || v === 'false') return false;
  return undefined;
}

function seconds(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_TIMER_SECONDS ? n : undefined;
}

/** `regs` as Node-RED sends it (array), as the reference server stored it (string), or JSON text. */
function registerNames(v: unknown, warnings: string[]): string[] | undefined {
  if (Array.isArray(v)) {
    const names = v.filter((x): x is string => typeof x === 'string');
    if (names.length !== v.length)
      warnings.push('regs holds entries that are not strings; they were ignored');
    return names;
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[')) {
      try {
        return registerNames(JSON.parse(s) as unknown, warnings);
      } catch {
        return undefined;
      }
    }
    return s === '' ? [] : s.split(/[\s,;|]+/).filter((x) => x !== '');
  }
  return undefined;
}

export function parseFieldSettings(payload: Buffer | string): FieldSettingsParse {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  if (Buffer.byteLength(text) > MAX_SETTINGS_PAYLOAD) return { ok: false, error: 'payload too large' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, error: 'payload is not a JSON object' };
  }
  const m = doc as Record<string, unknown>;
  const warnings: string[] = [];

  let target: string | null = null;
  if (m.device_id !== undefined && m.device_id !== null && m.device_id !== '') {
    if (typeof m.device_id !== 'string') return { ok: false, error: 'device_id must be a string' };
    target = m.device_id.trim() || null;
  }

  const bad = (key: string) => ({ ok: false as const, error: `${key} must be true or false` });
  const changed = m.Changed === undefined ? false : flag(m.Changed);
  if (changed === undefined) return bad('Changed');
  const settings: ParsedFieldSettings = { changed, unknownRegisters: [], warnings };

  const timers = [
    ['pollFreqChanged', 'newPollTimer', 'pollIntervalSeconds'],
    ['uploadFreqChanged', 'newUploadTimer', 'uploadIntervalSeconds'],
  ] as const;
  for (const [flagKey, valueKey, field] of timers) {
    const on = m[flagKey] === undefined ? false : flag(m[flagKey]);
    if (on === undefined) return bad(flagKey);
    if (!on) {
      if (m[valueKey] !== undefined) warnings.push(`${valueKey} ignored: ${flagKey} is not true`);
      continue;
    }
    const s = seconds(m[valueKey]);
    if (s === undefined) {
      return {
        ok: false,
        error: `${valueKey} must be a whole number of seconds from 1 to ${MAX_TIMER_SECONDS}`,
      };
    }
    settings[field] = s;
  }

  const regsChanged = m.regsChanged === undefined ? false : flag(m.regsChanged);
  if (regsChanged === undefined) return bad('regsChanged');
  if (regsChanged) {
    const names = registerNames(m.regs, warnings);
    if (names === undefined)
      return { ok: false, error: 'regs must be an array of register names or a string' };
    const ids: number[] = [];
    for (const name of names) {
      const r = lookupRegister(name);
      if (!r) settings.unknownRegisters.push(name);
      else if (!ids.includes(r.id)) ids.push(r.id);
    }
    if (ids.length === 0) return { ok: false, error: 'regsChanged is true but regs names no known register' };
    if (settings.unknownRegisters.length > 0) {
      warnings.push(`unknown registers ignored: ${settings.unknownRegisters.join(', ')}`);
    }
    if (m.regsCount !== undefined && m.regsCount !== names.length) {
      warnings.push(
        `regsCount ${JSON.stringify(m.regsCount)} does not match the ${names.length} names in regs`,
      );
    }
    settings.registers = ids;
  }
  return { ok: true, target, settings };
}
