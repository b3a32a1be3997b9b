/**
 * The 1.3 firmware's configuration and command handling as the vectors record it (NVS as
 * little-endian hex, the acknowledgement and result bodies), to see what a server answer really
 * does to a device. The emulation itself is the simulator's (src/sim/gen13-config.ts,
 * gen13-commands.ts), checked against every vector of head/control.json; this file only speaks
 * the vectors' form.
 */
import {
  commandResult13,
  describeEffect13,
  planCommand13,
  readCommandPoll13,
} from '../../src/sim/gen13-commands.js';
import {
  bootConfig13,
  currentConfigBody13,
  freshNvs13,
  type Nvs13,
  reactToConfig13,
  registersOfMask,
} from '../../src/sim/gen13-config.js';

/** The device clock of the vectors (host stub), unix seconds. */
const NOW_S = 1_765_000_000;
/** The register selection the vectors' NVS starts with (nvs.cpp's default: 0x2e3). */
const VECTOR_REGISTERS = [0, 1, 5, 6, 7, 9];

export type Nvs = Record<string, Record<string, string>>;

const le = (v: number, bytes: number): string => {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64LE(BigInt(v));
  else if (bytes === 4) b.writeUInt32LE(v);
  else b.writeUInt8(v);
  return b.toString('hex');
};
const readLe = (hex: string): number => {
  const b = Buffer.from(hex, 'hex');
  return b.length === 8 ? Number(b.readBigUInt64LE()) : b.length === 4 ? b.readUInt32LE() : b[0];
};

/** The model's NVS in the vectors' form: namespace → key → little-endian hex; unwritten keys absent. */
export function nvsHex(n: Nvs13): Nvs {
  const freq: Record<string, string> = { poll_freq: le(n.pollUs, 8), upload_freq: le(n.uploadUs, 8) };
  if (n.configUs !== null) freq.config_freq = le(n.configUs, 8);
  if (n.commandUs !== null) freq.command_freq = le(n.commandUs, 8);
  if (n.otaUs !== null) freq.ota_freq = le(n.otaUs, 8);
  return {
    freq,
    power: {
      enabled: n.powerEnabled ? '01' : '00',
      energy_poll: le(n.energyUs, 8),
      techniques: le(n.techniques, 1),
    },
    readregs: { reg_count: le(n.regCount, 4), regs: le(n.regMask, 4) },
  };
}

/** The vectors' form back into the model. */
export function nvsFromHex(h: Nvs): Nvs13 {
  const opt = (v: string | undefined) => (v === undefined ? null : readLe(v));
  return {
    pollUs: readLe(h.freq.poll_freq),
    uploadUs: readLe(h.freq.upload_freq),
    configUs: opt(h.freq.config_freq),
    commandUs: opt(h.freq.command_freq),
    otaUs: opt(h.freq.ota_freq),
    powerEnabled: h.power.enabled === '01',
    techniques: readLe(h.power.techniques),
    energyUs: readLe(h.power.energy_poll),
    regMask: readLe(h.readregs.regs),
    regCount: readLe(h.readregs.reg_count),
  };
}

/** A device as the vectors start it: 5 s sampling, 15 s upload, the default register selection. */
export function freshNvs(): Nvs {
  return nvsHex(freshNvs13(VECTOR_REGISTERS));
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

/** What `checkForChanges` does with one answer to `GET /config/<id>`. */
export function emulateConfigPoll(code: number, body: string, before: Nvs = freshNvs()): ConfigEffect {
  const nvs = nvsFromHex(before);
  const r = reactToConfig13(code, body, nvs, bootConfig13(nvs), NOW_S);
  return {
    acknowledged: r.changed,
    ack: r.ack ? { ...r.ack } : null,
    nvs_after: nvsHex(r.nvs),
    poll_us_after: r.config.pollUs,
    upload_us_after: r.config.uploadUs,
    registers_after_reboot: registersOfMask(r.nvs.regMask),
  };
}

/** What the device runs (and would report at boot) after `nvs`, as `POST /config/<id>/current` sends it. */
export function currentConfigBody(nvs: Nvs): Record<string, unknown> {
  const model = nvsFromHex(nvs);
  return currentConfigBody13(model, bootConfig13(model), NOW_S);
}

export interface CommandEffect {
  result_posted: Record<string, unknown> | null;
  modbus_side_effects: string[];
}

/** What `checkAndExecuteCommands` does with one answer to `GET /commands/<id>/poll`. */
export function emulateCommandPoll(code: number, body: string): CommandEffect {
  const command = readCommandPoll13(code, body);
  if (!command) return { result_posted: null, modbus_side_effects: [] };
  const effect = planCommand13(command);
  // The vectors stub the Inverter SIM: every Modbus write answers OK.
  const result = commandResult13(command.id, effect.kind !== 'unknown', NOW_S * 1000);
  return { result_posted: { ...result }, modbus_side_effects: describeEffect13(effect) };
}
