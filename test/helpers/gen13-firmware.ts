/**
 * A host emulation of the 1.3 firmware's configuration and command handling
 * (config_manager.cpp `checkForChanges`, command_executor.cpp `checkAndExecuteCommands`,
 * PROTOCOL-1.3.md §6, §7), to see what an answer really does to a device. It is checked against
 * every vector of head/control.json before it judges the server's answers.
 */
import {
  arduinoJsonBytes,
  COMMAND_DOCUMENT_BYTES,
  ESP32_SLOT_BYTES,
} from '../../src/commands/command-answer.js';

const REGISTER_MAP = ['Vac1', 'Iac1', 'Fac1', 'Vpv1', 'Vpv2', 'Ipv1', 'Ipv2', 'Temp', 'Pow', 'Pac'];
/** The device clock of the vectors (host stub). */
const NOW_S = 1_765_000_000;
const US = 1_000_000n;

type Nvs = Record<string, Record<string, string>>;

const hexLe = (v: bigint, bytes: number): string => {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64LE(v);
  else if (bytes === 4) b.writeUInt32LE(Number(v));
  else b.writeUInt8(Number(v));
  return b.toString('hex');
};
const readLe = (hex: string): bigint => {
  const b = Buffer.from(hex, 'hex');
  return b.length === 8 ? b.readBigUInt64LE() : b.length === 4 ? BigInt(b.readUInt32LE()) : BigInt(b[0]);
};

/** A device as the vectors start it: 5 s sampling, 15 s upload, the default register selection. */
export function freshNvs(): Nvs {
  return {
    freq: { poll_freq: hexLe(5n * US, 8), upload_freq: hexLe(15n * US, 8) },
    power: { enabled: '00', energy_poll: hexLe(300n * US, 8), techniques: '08' },
    readregs: { reg_count: hexLe(6n, 4), regs: hexLe(0x2e3n, 4) },
  };
}

export interface ConfigEffect {
  acknowledged: boolean;
  /** The acknowledgement body, when one was posted. */
  ack: Record<string, unknown> | null;
  nvs_after: Nvs;
  poll_us_after: number;
  upload_us_after: number;
  registers_after_reboot: number[];
}

/** ArduinoJson 6 `as<uint32_t>()`: numbers in range (truncated), numeric strings; else 0. */
function asU32(v: unknown): bigint {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 0xffff_ffff) return 0n;
  return BigInt(Math.trunc(n));
}

const asObject = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** What `checkForChanges` does with one answer to `GET /config/<id>`. */
export function emulateConfigPoll(code: number, body: string, before: Nvs = freshNvs()): ConfigEffect {
  const nvs: Nvs = structuredClone(before);
  let pollUs = readLe(nvs.freq.poll_freq);
  let uploadUs = readLe(nvs.freq.upload_freq);
  let changed = false;
  let doc: unknown;
  try {
    doc = code > 0 ? JSON.parse(body) : undefined;
  } catch {
    doc = undefined;
  }
  const root = asObject(doc);
  if (root && root.is_pending === true) {
    const wrapper = asObject(root.pending_config);
    const config = wrapper && 'config_update' in wrapper ? asObject(wrapper.config_update) : wrapper;
    if (config) {
      const has = (k: string) => Object.hasOwn(config, k);
      if (has('sampling_interval')) {
        const us = asU32(config.sampling_interval) * US;
        if (us !== pollUs) {
          if (us > 0n) nvs.freq.poll_freq = hexLe(us, 8);
          pollUs = us;
          changed = true;
        }
      }
      if (has('upload_interval')) {
        const us = asU32(config.upload_interval) * US;
        if (us !== uploadUs) {
          if (us > 0n) nvs.freq.upload_freq = hexLe(us, 8);
          uploadUs = us;
          changed = true;
        }
      }
      // nvs::change{Config,Command,Ota}Freq store any non-zero value and report it as a change.
      for (const [key, slot] of [
        ['config_poll_interval', 'config_freq'],
        ['command_poll_interval', 'command_freq'],
        ['firmware_check_interval', 'ota_freq'],
      ] as const) {
        if (!has(key)) continue;
        const us = asU32(config[key]) * US;
        if (us > 0n) {
          nvs.freq[slot] = hexLe(us, 8);
          changed = true;
        }
      }
      if (has('registers') && Array.isArray(config.registers) && config.registers.length > 0) {
        let mask = 0n;
        let count = 0n;
        for (const name of config.registers) {
          const id = typeof name === 'string' ? REGISTER_MAP.indexOf(name) : -1;
          if (id >= 0) {
            mask |= 1n << BigInt(id);
            count++;
          }
        }
        if (count > 0n) {
          nvs.readregs = { reg_count: hexLe(count, 4), regs: hexLe(mask, 4) };
          changed = true;
        }
      }
      const pm = has('power_management') ? asObject(config.power_management) : null;
      if (pm) {
        if (Object.hasOwn(pm, 'enabled')) {
          const enabled = pm.enabled === true ? '01' : '00';
          if (enabled !== nvs.power.enabled) {
            nvs.power.enabled = enabled;
            changed = true;
          }
        }
        if (Object.hasOwn(pm, 'techniques')) {
          const t = asU32(pm.techniques) & 0xffn;
          if (t !== readLe(nvs.power.techniques)) {
            if (t <= 0x0fn) nvs.power.techniques = hexLe(t, 1);
            changed = true;
          }
        }
      }
      if (has('energy_poll_interval')) {
        const us = asU32(config.energy_poll_interval) * US;
        if (us !== readLe(nvs.power.energy_poll)) {
          if (us >= 60n * US) nvs.power.energy_poll = hexLe(us, 8);
          changed = true;
        }
      }
    }
  }
  const regs = Number(readLe(nvs.readregs.regs));
  return {
    acknowledged: changed,
    ack: changed
      ? {
          status: 'applied',
          timestamp: NOW_S,
          error_msg: 'Configuration updated successfully',
          power_management: {
            enabled: nvs.power.enabled === '01',
            techniques: Number(readLe(nvs.power.techniques)),
            energy_poll_freq: Number(readLe(nvs.power.energy_poll) & 0xffff_ffffn),
          },
        }
      : null,
    nvs_after: nvs,
    poll_us_after: Number(pollUs),
    upload_us_after: Number(uploadUs),
    registers_after_reboot: REGISTER_MAP.map((_, i) => i).filter((i) => regs & (1 << i)),
  };
}

/** What the device runs (and would report at boot) after `nvs`, as `POST /config/<id>/current` sends it. */
export function currentConfigBody(nvs: Nvs): Record<string, unknown> {
  const s = (v: string | undefined, d: bigint) => Number((v ? readLe(v) : d * US) / US);
  const regs = Number(readLe(nvs.readregs.regs));
  return {
    sampling_interval: s(nvs.freq.poll_freq, 5n),
    upload_interval: s(nvs.freq.upload_freq, 15n),
    config_poll_interval: s(nvs.freq.config_freq, 5n),
    command_poll_interval: s(nvs.freq.command_freq, 10n),
    firmware_check_interval: s(nvs.freq.ota_freq, 6000n),
    energy_poll_interval: s(nvs.power.energy_poll, 300n),
    power_management: {
      enabled: nvs.power.enabled === '01',
      techniques: Number(readLe(nvs.power.techniques)),
    },
    compression_enabled: true,
    timestamp: NOW_S,
    registers: REGISTER_MAP.filter((_, i) => regs & (1 << i)),
  };
}

export interface CommandEffect {
  result_posted: Record<string, unknown> | null;
  modbus_side_effects: string[];
}

/** ArduinoJson `v | default` for an int: integers only (a string or float gives the default). */
const orInt = (v: unknown, d: number): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? v : d;
const orText = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);
const clamp = (v: number) => Math.min(100, Math.max(0, v));

/** What `checkAndExecuteCommands` does with one answer to `GET /commands/<id>/poll`. */
export function emulateCommandPoll(code: number, body: string): CommandEffect {
  const none = { result_posted: null, modbus_side_effects: [] };
  if (code !== 200) return none;
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return none;
  }
  // StaticJsonDocument<512>: an answer that does not fit is a NoMemory error, ignored.
  if (arduinoJsonBytes(doc, ESP32_SLOT_BYTES) > COMMAND_DOCUMENT_BYTES) return none;
  const root = asObject(doc);
  const count = root ? asU32(root.count) : 0n;
  if (!root || !Object.hasOwn(root, 'commands') || count <= 0n || !Array.isArray(root.commands)) return none;
  const first = asObject(root.commands[0]);
  if (!first) return none;
  const commandId = orText(first.command_id, '');
  const command = asObject(first.command);
  if (!command) return none;
  const action = orText(command.action, '');
  const effects: string[] = [];
  let ok = false;
  if (action === 'write_register') {
    const target = orText(command.target_register, '');
    let address = orInt(command.register_address, -1);
    if (address < 0) {
      const digits = /^\s*[+-]?\d+/.exec(target);
      address = digits ? Number.parseInt(digits[0], 10) : 0;
      if (address === 0 && target !== '0') address = -1;
    }
    if (address >= 0) {
      effects.push(`slave=17 addr=${address & 0xffff} value=${orInt(command.value, 0) & 0xffff}`);
      ok = true;
    }
  } else if (action === 'set_power') {
    const pct = clamp(Math.trunc((orInt(command.value, 0) * 100) / 10_000));
    effects.push(`setPower(${pct}) -> register 8`);
    ok = true;
  } else if (action === 'set_power_percentage') {
    effects.push(`setPower(${clamp(orInt(command.value, 0))}) -> register 8`);
    ok = true;
  } else if (
    ['get_power_stats', 'reset_power_stats', 'get_peripheral_stats', 'reset_peripheral_stats'].includes(
      action,
    )
  ) {
    ok = true;
  }
  return {
    result_posted: {
      command_result: {
        command_id: commandId,
        status: ok ? 'success' : 'failed',
        executed_at: new Date(NOW_S * 1000).toISOString().replace('.000Z', 'Z'),
      },
    },
    modbus_side_effects: effects,
  };
}
