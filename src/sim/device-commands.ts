/**
 * Commands as a device runs them (pure): the poll answer read the way the 1.3 firmware reads it
 * (PROTOCOL-1.3.md §7: `count` > 0, only `commands[0]`, its `command.action` with `value` and,
 * for `write_register`, `register_address`), and what each command does to the inverter. The
 * server queues three ways of writing the one writable register, the export power limit (`Pow`,
 * address 8, percent, src/commands/command-schema.ts); a device refuses anything else with a
 * failed result saying why, which is the only negative outcome the server records.
 */
import { ASSUMED_CAPACITY_W, WRITABLE_REGISTER } from '../commands/command-schema.js';
import type { ResultStatus } from '../ports/command-store.js';

export interface DeliveredCommand {
  id: string;
  /** `command.action`. */
  type: string;
  /** The rest of the `command` object (`value`, `register_address`, …). */
  parameters: Record<string, unknown>;
}

/** What running a command came to: the limit to write, or why the device refused it. */
export type CommandPlan = { ok: true; percent: number } | { ok: false; detail: string };

/** What the device reports in `/commands/<id>/result`. */
export interface CommandReport {
  command_id: string;
  status: ResultStatus;
  detail: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The command of a poll answer, as the firmware takes it: none unless `count` > 0 and
 * `commands[0]` has a `command` object; its id must be a string (the firmware reads a number as "").
 */
export function readCommandPoll(answer: unknown): DeliveredCommand[] {
  if (!isObject(answer) || !Array.isArray(answer.commands)) return [];
  if (!(typeof answer.count === 'number' && answer.count > 0)) return [];
  const first = answer.commands[0];
  if (!isObject(first) || !isObject(first.command)) return [];
  const id = first.command_id;
  if (typeof id !== 'string' || id.length === 0) return [];
  const { action, ...parameters } = first.command;
  return [{ id, type: typeof action === 'string' ? action : '', parameters }];
}

function wholePercent(v: unknown, what: string): CommandPlan {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 100) {
    return { ok: false, detail: `${what} must be a whole percent from 0 to 100, got ${JSON.stringify(v)}` };
  }
  return { ok: true, percent: v };
}

export function planCommand(c: DeliveredCommand): CommandPlan {
  const p = c.parameters;
  switch (c.type) {
    case 'write_register': {
      // As the firmware: `register_address`, else a numeric `target_register`.
      const address =
        p.register_address ??
        (typeof p.target_register === 'string' && /^\d+$/.test(p.target_register)
          ? Number(p.target_register)
          : undefined);
      if (address !== WRITABLE_REGISTER) {
        // The Inverter SIM answers a write elsewhere with a Modbus exception (illegal address).
        return {
          ok: false,
          detail: `register ${JSON.stringify(address)} is not writable (only address ${WRITABLE_REGISTER}, the export limit)`,
        };
      }
      return wholePercent(p.value, 'value');
    }
    case 'set_power_percentage':
      return wholePercent(p.value, 'value');
    case 'set_power': {
      const watts = p.value;
      if (typeof watts !== 'number' || !Number.isFinite(watts) || watts < 0 || watts > ASSUMED_CAPACITY_W) {
        return {
          ok: false,
          detail: `value must be 0 to ${ASSUMED_CAPACITY_W} W, got ${JSON.stringify(watts)}`,
        };
      }
      // As the firmware: a fixed 10 kW capacity, whole percent (the server only queues
      // multiples of 100 W, so nothing is cut here).
      return { ok: true, percent: Math.trunc((watts * 100) / ASSUMED_CAPACITY_W) };
    }
    default:
      return { ok: false, detail: `unsupported command type ${JSON.stringify(c.type)}` };
  }
}

/** Runs a command against the inverter's export limit and says what to report. */
export function runCommand(
  c: DeliveredCommand,
  inverter: { setExportLimit(percent: number): void },
): CommandReport {
  const plan = planCommand(c);
  if (!plan.ok) return { command_id: c.id, status: 'failed', detail: plan.detail };
  inverter.setExportLimit(plan.percent);
  return { command_id: c.id, status: 'succeeded', detail: `export power limit set to ${plan.percent} %` };
}
