/**
 * Control commands an operator may send (pure). The inverter has one writable register, the
 * export power limit (`Pow`, RegID and Modbus address 8, percent, PROTOCOL.md §4.1), so every
 * command is a write of 0–100 % to it; the three types are three ways of saying how much.
 */
import { COMMAND_TYPES, type CommandType } from '../model/command.js';
import type { FieldErrors } from '../model/field-errors.js';
import { findRegister, registerById } from '../protocol/registers.js';

export const WRITABLE_REGISTER = 8;
/** The later firmware converts watts with a fixed 10 kW capacity and integer percent. */
export const ASSUMED_CAPACITY_W = 10_000;
const WATTS_PER_PERCENT = ASSUMED_CAPACITY_W / 100;

export const LEASE_RANGE = { min: 1, max: 3_600 } as const;
export const ATTEMPTS_RANGE = { min: 1, max: 20 } as const;

/** A validated command: what the device is told (`params`) and the percent it amounts to. */
export interface CommandSpec {
  type: CommandType;
  params: Record<string, number>;
  /** Export power limit, percent, that the command writes. */
  percent: number;
  leaseSeconds: number | undefined;
  maxAttempts: number | undefined;
  reason: string | null;
}

const PARAMS: Record<CommandType, readonly string[]> = {
  write_register: ['register', 'value'],
  set_power_percentage: ['percentage'],
  set_power: ['power_value'],
};
const COMMON = ['type', 'reason', 'lease_seconds', 'max_attempts'];

/** Names the dashboards use for the writable register, besides the register map's. */
const ALIASES: Record<string, number> = {
  export_power: WRITABLE_REGISTER,
  export_power_limit: WRITABLE_REGISTER,
};

function integerIn(v: unknown, min: number, max: number, unit: string): number | string {
  if (typeof v !== 'number' || !Number.isInteger(v))
    return `expected an integer from ${min} to ${max} ${unit}`;
  if (v < min || v > max) return `expected an integer from ${min} to ${max} ${unit}, got ${v}`;
  return v;
}

function writableRegister(v: unknown): number | string {
  const r =
    typeof v === 'number'
      ? registerById(v)
      : typeof v === 'string'
        ? ALIASES[v.trim().toLowerCase()] !== undefined
          ? registerById(ALIASES[v.trim().toLowerCase()])
          : /^\d+$/.test(v.trim())
            ? registerById(Number(v))
            : findRegister(v)
        : undefined;
  if (!r) return 'expected a register name or Modbus address; only Pow (address 8) is writable';
  if (r.id !== WRITABLE_REGISTER) {
    return `${r.name} (address ${r.address}) is read-only; only Pow (address 8, export power limit in %) is writable`;
  }
  return r.id;
}

export function parseCommand(body: Record<string, unknown>): { spec: CommandSpec } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const type = body.type;
  if (typeof type !== 'string' || !(COMMAND_TYPES as readonly string[]).includes(type)) {
    return { errors: { type: `expected one of ${COMMAND_TYPES.join(', ')}` } };
  }
  const t = type as CommandType;
  for (const key of Object.keys(body)) {
    if (!COMMON.includes(key) && !PARAMS[t].includes(key)) {
      errors[key] = `unknown field for ${t}; expected ${PARAMS[t].join(', ')}`;
    }
  }
  const params: Record<string, number> = {};
  let percent: number | undefined;
  const take = (field: string, v: number | string): number | undefined => {
    if (typeof v === 'string') {
      errors[field] = v;
      return undefined;
    }
    return v;
  };
  if (t === 'write_register') {
    const address = take('register', writableRegister(body.register));
    const value = take('value', integerIn(body.value, 0, 100, '% (export power limit)'));
    if (address !== undefined && value !== undefined) {
      params.register_address = address;
      params.value = value;
      percent = value;
    }
  } else if (t === 'set_power_percentage') {
    const value = take('percentage', integerIn(body.percentage, 0, 100, '%'));
    if (value !== undefined) {
      params.percentage = value;
      percent = value;
    }
  } else {
    let watts = take('power_value', integerIn(body.power_value, 0, ASSUMED_CAPACITY_W, 'W'));
    if (watts !== undefined && watts % WATTS_PER_PERCENT !== 0) {
      errors.power_value =
        `the export limit has a resolution of 1 % = ${WATTS_PER_PERCENT} W (the firmware assumes ${ASSUMED_CAPACITY_W} W); ` +
        `${watts} W would be cut to ${Math.trunc(watts / WATTS_PER_PERCENT) * WATTS_PER_PERCENT} W`;
      watts = undefined;
    }
    if (watts !== undefined) {
      params.power_value = watts;
      percent = watts / WATTS_PER_PERCENT;
    }
  }
  const lease =
    body.lease_seconds === undefined
      ? undefined
      : take('lease_seconds', integerIn(body.lease_seconds, LEASE_RANGE.min, LEASE_RANGE.max, 's'));
  const attempts =
    body.max_attempts === undefined
      ? undefined
      : take(
          'max_attempts',
          integerIn(body.max_attempts, ATTEMPTS_RANGE.min, ATTEMPTS_RANGE.max, 'attempts'),
        );
  let reason: string | null = null;
  if (body.reason !== undefined && body.reason !== null) {
    if (typeof body.reason === 'string') reason = body.reason;
    else errors.reason = 'expected a string';
  }
  if (Object.keys(errors).length > 0 || percent === undefined) return { errors };
  return { spec: { type: t, params, percent, leaseSeconds: lease, maxAttempts: attempts, reason } };
}
