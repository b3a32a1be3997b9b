/**
 * Commands as a generation 1.3 device runs them (PROTOCOL-1.3.md §7, command_executor.cpp), pure:
 * the poll answer read into a 512-byte ArduinoJson document, only `commands[0]` taken, its action
 * turned into what the device asks of the inverter, and the result it posts. Checked against every
 * command vector of head/control.json.
 *
 * Unlike the e84f720 simulator's devices (device-commands.ts), a 1.3 device writes any register
 * address it is given (no whitelist), clamps a percentage instead of refusing it, and reports only
 * `success` or `failed`, with no reason.
 */
import { arduinoJsonBytes, COMMAND_DOCUMENT_BYTES } from '../commands/command-answer.js';

/** The Modbus slave address of the Inverter SIM. */
const SLAVE = 17;
/** `set_power` takes watts of a fixed 10 kW inverter. */
const CAPACITY_W = 10_000;
/** Actions the device runs locally and always reports as done. */
const LOCAL_ACTIONS = [
  'get_power_stats',
  'reset_power_stats',
  'get_peripheral_stats',
  'reset_peripheral_stats',
];

export interface Command13 {
  /** `command_id` as the device read it ("" when it is not a string). */
  id: string;
  action: string;
  /** The `command` object. */
  command: Record<string, unknown>;
}

/** What the device asks for: a Modbus write, the export limit, nothing (local), or nothing at all. */
export type CommandEffect13 =
  | { kind: 'write'; address: number; value: number }
  | { kind: 'power'; percent: number }
  | { kind: 'local' }
  | { kind: 'unknown' };

export interface CommandResult13 {
  command_result: { command_id: string; status: 'success' | 'failed'; executed_at: string };
}

const asObject = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** ArduinoJson `v | default` for an int: an integer in int32 range, else the default. */
const orInt = (v: unknown, d: number): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? v : d;
const orText = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);

/**
 * The command a poll answer hands the device, or null: only a 200 whose body parses into the
 * 512-byte document, has `commands` and a `count` above 0, and whose first entry has a `command`
 * object. Anything else is ignored without a result.
 */
export function readCommandPoll13(code: number, body: string): Command13 | null {
  if (code !== 200) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return null;
  }
  // StaticJsonDocument<512>: an answer that does not fit fails to parse (NoMemory) and is ignored.
  if (arduinoJsonBytes(doc) > COMMAND_DOCUMENT_BYTES) return null;
  const root = asObject(doc);
  if (!root || !Array.isArray(root.commands) || orInt(root.count, 0) <= 0) return null;
  const first = asObject(root.commands[0]);
  const command = first ? asObject(first.command) : null;
  if (!first || !command) return null;
  return { id: orText(first.command_id, ''), action: orText(command.action, ''), command };
}

/** What running the command asks of the inverter (command_executor.cpp:152-180). */
export function planCommand13(c: Command13): CommandEffect13 {
  const p = c.command;
  switch (c.action) {
    case 'write_register': {
      // `register_address`, else a numeric `target_register` (atoi: "export_power" gives 0,
      // which only counts when the text is "0").
      let address = orInt(p.register_address, -1);
      if (address < 0) {
        const target = orText(p.target_register, '');
        const digits = /^\s*[+-]?\d+/.exec(target);
        address = digits ? Number.parseInt(digits[0], 10) : 0;
        if (address === 0 && target !== '0') address = -1;
      }
      if (address < 0) return { kind: 'unknown' };
      return { kind: 'write', address: address & 0xffff, value: orInt(p.value, 0) & 0xffff };
    }
    case 'set_power': {
      const percent = Math.trunc((orInt(p.value, 0) * 100) / CAPACITY_W);
      return { kind: 'power', percent: Math.min(100, Math.max(0, percent)) };
    }
    case 'set_power_percentage':
      return { kind: 'power', percent: Math.min(100, Math.max(0, orInt(p.value, 0))) };
    default:
      return LOCAL_ACTIONS.includes(c.action) ? { kind: 'local' } : { kind: 'unknown' };
  }
}

/** The effect in the words of the vectors' `modbus_side_effects`. */
export function describeEffect13(e: CommandEffect13): string[] {
  if (e.kind === 'write') return [`slave=${SLAVE} addr=${e.address} value=${e.value}`];
  if (e.kind === 'power') return [`setPower(${e.percent}) -> register 8`];
  return [];
}

/** `YYYY-MM-DDTHH:MM:SSZ` of the device clock (unix ms). */
export function executedAt13(unixMs: number): string {
  return new Date(Math.floor(unixMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `POST /commands/<id>/result` (command_executor.cpp:312-342). */
export function commandResult13(id: string, ok: boolean, unixMs: number): CommandResult13 {
  return {
    command_result: { command_id: id, status: ok ? 'success' : 'failed', executed_at: executedAt13(unixMs) },
  };
}

/** The Inverter SIM's side of a write: what it accepts, as `Inverter` models it (the export limit). */
export interface WritableInverter {
  setExportLimit(percent: number): void;
}

/** The export limit register (`Pow`, RegID 8), percent. */
const EXPORT_LIMIT_ADDRESS = 8;

/**
 * Runs the effect against the simulated inverter: whether the device saw it succeed. The Inverter
 * SIM holds one writable register, the export limit (0-100 %); a write elsewhere, or of a value it
 * cannot take, is answered with a Modbus exception, which the device reports as `failed`.
 */
export function applyCommand13(e: CommandEffect13, inverter: WritableInverter): boolean {
  switch (e.kind) {
    case 'write':
      if (e.address !== EXPORT_LIMIT_ADDRESS || e.value > 100) return false;
      inverter.setExportLimit(e.value);
      return true;
    case 'power':
      inverter.setExportLimit(e.percent);
      return true;
    case 'local':
      return true;
    default:
      return false;
  }
}
