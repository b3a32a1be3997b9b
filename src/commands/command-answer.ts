/**
 * The command poll answer in the shape generation 1.3 runs (PROTOCOL-1.3.md §7), pure.
 *
 * command_executor.cpp parses the answer into a `StaticJsonDocument<512>` and needs `count` > 0
 * and `commands[0].command.action`; it runs `commands[0]` only, reads `command_id` as a string
 * (a number becomes ""), `value` and `register_address` as integers, and a `write_register`
 * without `register_address` writes the address `atoi(target_register)`, which for a name is a
 * failure and for nothing at all would be 0. So the answer carries one command, the numeric
 * address, and nothing the device does not read.
 */
import type { CommandType } from '../model/command.js';
import type { StoredCommand } from '../ports/command-store.js';
import { WRITABLE_REGISTER } from './command-schema.js';

/** The firmware's poll document (a `StaticJsonDocument<512>`). */
export const COMMAND_DOCUMENT_BYTES = 512;
/** ArduinoJson 6 slot (one value in an object or array) on the ESP32: 16 bytes; 32 on 64-bit hosts. */
export const ESP32_SLOT_BYTES = 16;

/** `command` of a poll answer: what the firmware runs. */
export interface FirmwareCommand {
  action: CommandType;
  /** `write_register` only: the Modbus address (always the writable export limit, 8). */
  register_address?: number;
  /** Percent (`write_register`, `set_power_percentage`) or watts (`set_power`). */
  value: number;
}

export interface CommandPollAnswer {
  commands: { command_id: string; command: FirmwareCommand }[];
  count: number;
}

function param(c: Pick<StoredCommand, 'id' | 'params'>, name: string): number {
  const v = c.params[name];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new Error(`command ${c.id}: stored parameter ${name} is not an integer`);
  }
  return v;
}

/** The stored command as the 1.3 firmware's `command` object (set_power stays in watts: it converts). */
export function firmwareCommand(c: Pick<StoredCommand, 'id' | 'type' | 'params'>): FirmwareCommand {
  switch (c.type) {
    case 'write_register': {
      const address = param(c, 'register_address');
      // Validated when queued; a stored row saying otherwise is a fault, never a write elsewhere.
      if (address !== WRITABLE_REGISTER)
        throw new Error(`command ${c.id}: register ${address} is not writable`);
      return { action: 'write_register', register_address: address, value: param(c, 'value') };
    }
    case 'set_power_percentage':
      return { action: 'set_power_percentage', value: param(c, 'percentage') };
    case 'set_power':
      return { action: 'set_power', value: param(c, 'power_value') };
  }
}

/** At most one command (the firmware runs only the first); `count` 0 when there is none. */
export function buildCommandPollAnswer(handed: readonly StoredCommand[]): CommandPollAnswer {
  const first = handed[0];
  if (!first) return { commands: [], count: 0 };
  return { commands: [{ command_id: String(first.id), command: firmwareCommand(first) }], count: 1 };
}

/**
 * Bytes an ArduinoJson 6 document needs to hold `value` parsed from a read-only input (an Arduino
 * `String`): one slot per object member and array element, every key and string copied with its
 * NUL (counted without deduplication, so never less than the library needs). The root value
 * lives in the document itself.
 */
export function arduinoJsonBytes(value: unknown, slotBytes = ESP32_SLOT_BYTES): number {
  const text = (s: string) => Buffer.byteLength(s, 'utf8') + 1;
  const inner = (v: unknown): number => {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.reduce<number>((n, x) => n + slotBytes + inner(x), 0);
    if (typeof v === 'object' && v !== null) {
      return Object.entries(v).reduce((n, [k, x]) => n + slotBytes + text(k) + inner(x), 0);
    }
    return 0;
  };
  return inner(value);
}
