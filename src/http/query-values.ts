/**
 * Query values whose shape the route schema has checked (api-schemas.ts `QueryTime`,
 * `QueryRegisters`) turned into what storage takes; what only the register table or the calendar
 * can refuse is refused here, naming the field.
 */
import { invalidParameter } from '../model/errors.js';
import { findRegister, registerById } from '../protocol/registers.js';

/** ISO 8601, or epoch seconds (≤ 11 digits) or milliseconds, as epoch milliseconds. */
export function timeFromQuery(field: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d{1,16}$/.test(v)) return v.length <= 11 ? Number(v) * 1000 : Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) invalidParameter(field, 'expected an ISO time or epoch number');
  return t;
}

/** `Vac1,PAC,9` → RegIDs; any naming style. */
export function registersFromQuery(field: string, v: string | undefined): number[] | undefined {
  if (v === undefined || v === '') return undefined;
  return v.split(',').map((part) => {
    const p = part.trim();
    const r = /^\d+$/.test(p) ? registerById(Number(p)) : findRegister(p);
    if (!r) invalidParameter(field, `unknown register "${p}"`);
    return r.id;
  });
}
