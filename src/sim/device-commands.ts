/**
 * Commands as a device runs them (pure): the poll answer read the way the later firmware reads it
 * (`command_type` + `parameters`), and what each command does to the inverter. The server queues
 * three ways of writing the one writable register, the export power limit (`Pow`, address 8,
 * percent, src/commands/command-schema.ts); a device refuses anything else with a failed result
 * saying why, which is the only negative outcome the server records.
 */
import { ASSUMED_CAPACITY_W, WRITABLE_REGISTER } from '../commands/command-schema.js';
import type { ResultStatus } from '../ports/command-store.js';

export interface DeliveredCommand {
  id: string;
  type: string;
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

/** The commands of a poll answer; items without an id cannot be answered and are skipped. */
export function readCommandPoll(answer: unknown): DeliveredCommand[] {
  const list = (answer as { commands?: unknown } | null)?.commands;
  if (!Array.isArray(list)) return [];
  const out: DeliveredCommand[] = [];
  for (const item of list) {
    if (typeof item !== 'object' || item === null) continue;
    const c = item as Record<string, unknown>;
    const id = typeof c.command_id === 'number' ? String(c.command_id) : c.command_id;
    if (typeof id !== 'string' || id.length === 0) continue;
    const params = c.parameters;
    out.push({
      id,
      type: typeof c.command_type === 'string' ? c.command_type : '',
      parameters:
        typeof params === 'object' && params !== null && !Array.isArray(params)
          ? (params as Record<string, unknown>)
          : {},
    });
  }
  return out;
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
      const address = p.register_address;
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
      return wholePercent(p.percentage, 'percentage');
    case 'set_power': {
      const watts = p.power_value;
      if (typeof watts !== 'number' || !Number.isFinite(watts) || watts < 0 || watts > ASSUMED_CAPACITY_W) {
        return {
          ok: false,
          detail: `power_value must be 0 to ${ASSUMED_CAPACITY_W} W, got ${JSON.stringify(watts)}`,
        };
      }
      // As the later firmware: a fixed 10 kW capacity, whole percent (the server only queues
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
