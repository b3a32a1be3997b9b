/** Query and body field parsing for the admin API; every failure names its field. */
import { ApiError } from '../../model/errors.js';
import { REPLAY_MODE_EXPECTED, type ReplayMode, readReplayMode } from '../../model/replay.js';
import { findRegister, registerById } from '../../protocol/registers.js';

export type Fields = Record<string, unknown>;

export function invalid(field: string, message: string): never {
  throw new ApiError('invalid_parameter', `${field}: ${message}`, { details: { field } });
}

export function asFields(x: unknown, what = 'body'): Fields {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x)) invalid(what, 'expected a JSON object');
  return x as Fields;
}

/** ISO 8601, or epoch seconds (≤ 11 digits) or milliseconds. */
export function parseTime(field: string, v: unknown): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') invalid(field, 'expected an ISO time or epoch number');
  if (/^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return v.length <= 11 ? n * 1000 : n;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(v))
    invalid(field, 'expected an ISO time or epoch number');
  return t;
}

export function parseLimit(field: string, v: unknown, dflt: number, max: number): number {
  if (v === undefined || v === '') return dflt;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) invalid(field, `expected an integer from 1 to ${max}`);
  return n;
}

/** `register=Vac1,PAC,9` → RegIDs; any naming style. */
export function parseRegisters(field: string, v: unknown): number[] | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') invalid(field, 'expected register names or RegIDs separated by commas');
  return v.split(',').map((part) => {
    const p = part.trim();
    const r = /^\d+$/.test(p) ? registerById(Number(p)) : findRegister(p);
    if (!r) invalid(field, `unknown register "${p}"`);
    return r.id;
  });
}

export function optBool(f: Fields, key: string): boolean | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') invalid(key, 'expected true or false');
  return v;
}

export function optString(f: Fields, key: string): string | undefined {
  const v = f[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') invalid(key, 'expected a string');
  return v;
}

export function optReplay(f: Fields, key: string): ReplayMode | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalid(key, 'expected "strict" or "window:N"');
  return readReplayMode(v) ?? invalid(key, REPLAY_MODE_EXPECTED);
}

export function optNonce(f: Fields, key: string): number | null | undefined {
  const v = f[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    invalid(key, 'expected a non-negative integer or null');
  return v;
}
