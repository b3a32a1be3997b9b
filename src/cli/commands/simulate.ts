/**
 * `ecowatt simulate`: a fleet of field devices speaking the real protocol to a server: uploads,
 * and on their own timers `/changes`, command polls and firmware checks. `--generation` picks the
 * firmware generation: e84f720 (`POST /process`), 1.3 (PROTOCOL-1.3.md) or a mix of both.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { generationKeyDir, resolveKeyDir } from '../../firmware/firmware-keys.js';
import type { Generation } from '../../model/device.js';
import { FIELD_KEYS } from '../../protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../../protocol/firmware/device-update.js';
import { freshNvs13, type Nvs13 } from '../../sim/gen13-config.js';
import { FAULT_TYPES_13, type FaultType13 } from '../../sim/gen13-device.js';
import {
  FIRMWARE_FAULTS,
  MISBEHAVIOURS,
  type MisbehaviourRates,
  parseMisbehaviour,
} from '../../sim/misbehaviour.js';
import { deviceKeysFromDir } from '../../sim/ota-device-keys.js';
import { type ProgressMark, progressLines, summaryLines } from '../../sim/progress.js';
import { runSimulation, type SimulationSummary } from '../../sim/simulator.js';
import { CliError, guarded } from '../admin-client.js';

function num(name: string, v: string, min: number, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new CliError(`--${name} takes ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
  }
  return n;
}

function hexKey(name: string, v: string | undefined, bytes: number): Buffer | undefined {
  if (v === undefined) return undefined;
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v))
    throw new CliError(`--${name} takes ${bytes} bytes in hex`);
  return Buffer.from(v, 'hex');
}

function readV2Identities(file: string): { deviceId: string; kid: string; key: Buffer }[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--v2-keys: cannot read ${file}: ${(err as Error).message}`);
  }
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((line, i) => {
      let x: { device_id?: unknown; kid?: unknown; key?: unknown };
      try {
        x = JSON.parse(line) as typeof x;
      } catch {
        throw new CliError(`--v2-keys: line ${i + 1} is not JSON`);
      }
      if (typeof x.device_id !== 'string' || typeof x.kid !== 'string' || typeof x.key !== 'string') {
        throw new CliError(`--v2-keys: line ${i + 1} needs device_id, kid and key`);
      }
      const key = hexKey('v2-keys', x.key, 32) as Buffer;
      return { deviceId: x.device_id, kid: x.kid, key };
    });
}

function misbehaviour(v: string | undefined): MisbehaviourRates {
  if (v === undefined) return {};
  try {
    return parseMisbehaviour(v);
  } catch (err) {
    throw new CliError(`--misbehave: ${(err as Error).message}`);
  }
}

/**
 * The keys a device build compiles in, for firmware updates. A key directory named on the command
 * line must hold them; the default one may be missing (a server without firmware keys offers no
 * update anyway), and then devices do not check for firmware.
 */
function firmwareKeys(
  o: Record<string, string | boolean | undefined>,
  generation: Generation = 'e84f720',
): DeviceFirmwareKeys | undefined {
  const named = typeof o.keyDir === 'string' || typeof o.dataDir === 'string';
  const dataDir = typeof o.dataDir === 'string' ? o.dataDir : (process.env.ECOWATT_DATA_DIR ?? './data');
  const dir = resolveKeyDir(dataDir, typeof o.keyDir === 'string' ? o.keyDir : process.env.ECOWATT_KEY_DIR);
  try {
    return deviceKeysFromDir(dir, generation);
  } catch (err) {
    if (named) throw new CliError((err as Error).message);
    const which = generation === 'e84f720' ? '' : ` of ${generation} devices`;
    process.stderr.write(
      `firmware updates${which} off: no firmware keys in ${generationKeyDir(dir, generation)} (--key-dir)\n`,
    );
    return undefined;
  }
}

const GENERATION_CHOICES = ['e84f720', '1.3', 'mixed'] as const;

/** `--gen13-config`: the settings 1.3 devices boot with (their NVS), device seconds. */
const GEN13_SETTINGS = {
  sampling_interval: 'pollUs',
  upload_interval: 'uploadUs',
  config_poll_interval: 'configUs',
  command_poll_interval: 'commandUs',
  firmware_check_interval: 'otaUs',
  energy_poll_interval: 'energyUs',
} as const satisfies Record<string, keyof Nvs13>;

function gen13Settings(v: string | undefined): Nvs13 | undefined {
  if (v === undefined) return undefined;
  const nvs = freshNvs13();
  for (const part of v.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([a-z_]+)\s*=\s*(\d+)$/.exec(item);
    const slot = m ? GEN13_SETTINGS[m[1] as keyof typeof GEN13_SETTINGS] : undefined;
    if (!m || !slot) {
      throw new CliError(
        `--gen13-config: "${item}" is not key=seconds with a key of ${Object.keys(GEN13_SETTINGS).join(', ')}`,
      );
    }
    // Whole seconds, as the server sends them; at least what the firmware's NVS reads accept.
    const seconds = Number(m[2]);
    const min = slot === 'energyUs' ? 60 : 1;
    if (!Number.isInteger(seconds) || seconds < min) {
      throw new CliError(`--gen13-config: ${m[1]} takes whole seconds ≥ ${min}`);
    }
    nvs[slot] = seconds * 1_000_000;
  }
  return nvs;
}

/** `--faults crc_error=0.02,timeout=0.01` (or `any=0.05`, spread over every type): rates per poll. */
function faultRates(v: string | undefined): Partial<Record<FaultType13, number>> | undefined {
  if (v === undefined) return undefined;
  const rates: Partial<Record<FaultType13, number>> = {};
  for (const part of v.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([a-z_]+)\s*=\s*([0-9.]+)$/.exec(item);
    const known: readonly string[] = [...FAULT_TYPES_13, 'any'];
    if (!m || !known.includes(m[1]))
      throw new CliError(`--faults: "${item}" is not type=rate (${known.join(', ')})`);
    const rate = Number(m[2]);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1)
      throw new CliError(`--faults: ${m[1]}: rate must be from 0 to 1`);
    if (m[1] === 'any')
      for (const t of FAULT_TYPES_13) rates[t] = (rates[t] ?? 0) + rate / FAULT_TYPES_13.length;
    else rates[m[1] as FaultType13] = rate;
  }
  return rates;
}

/**
 * On a terminal the progress block is redrawn in place; in a log (CI, a pipe) a line every few
 * seconds is easier to read than a stream of carriage returns.
 */
function progressPrinter(): (s: SimulationSummary) => void {
  let mark: ProgressMark | undefined;
  let drawn = 0;
  const tty = process.stderr.isTTY === true;
  return (s) => {
    if (!tty && mark && s.elapsedSeconds - mark.elapsedSeconds < 5) return;
    const view = progressLines(s, mark);
    mark = view.mark;
    if (tty) {
      // Up to the start of the previous block, then overwrite it line by line.
      const up = drawn > 0 ? `\x1b[${drawn}F` : '';
      process.stderr.write(`${up}${view.lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
      drawn = view.lines.length;
    } else {
      process.stderr.write(`${view.lines[0]}\n`);
    }
  };
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('run simulated field devices against a server and report what it accepted')
    .option('--url <url>', 'server URL', 'http://127.0.0.1:5001')
    .option('-n, --devices <n>', 'number of devices', '1')
    .option('-i, --interval <seconds>', 'seconds between one device’s uploads', '15')
    .option('--duration <seconds>', 'stop after this many seconds', '60')
    .option('--uploads <n>', 'stop after this many uploads per device (overrides --duration)')
    .option('--encrypt', 'encrypt payloads (AES-128-CBC as the firmware would)')
    .option('--fleet-key <hex>', 'HMAC fleet key (default: the firmware’s well-known key)')
    .option('--aes-key <hex>', 'AES-128 key (default: the firmware’s)')
    .option('--iv <hex>', 'AES IV (default: the firmware’s)')
    .option('--prefix <text>', 'device id prefix', 'sim')
    .option(
      '--generation <gen>',
      `firmware generation of the devices: ${GENERATION_CHOICES.join(' | ')} (mixed: see --gen13-share)`,
      'e84f720',
    )
    .option('--gen13-share <fraction>', 'with --generation mixed: the share of 1.3 devices', '0.5')
    .option(
      '--gen13-config <list>',
      `settings 1.3 devices boot with, key=seconds (${Object.keys(GEN13_SETTINGS).join(', ')}), e.g. energy_poll_interval=60`,
    )
    .option(
      '--faults <list>',
      `1.3 devices meet Modbus faults and report their recovery, type=rate per poll (${FAULT_TYPES_13.join(', ')}, any)`,
    )
    .option(
      '--v2-keys <file>',
      'also run protocol v2 devices: JSON lines of `ecowatt device provision --json` output',
    )
    .option('--seed <n>', 'random seed for the inverter profiles', '1')
    .option('--varied', 'a profile per device: rated power, weather, night length, cadence, firmware label')
    .option(
      '--misbehave <list>',
      `misbehaving devices, name=rate pairs (${[...MISBEHAVIOURS, ...FIRMWARE_FAULTS].join(', ')}), e.g. replay=0.05,tamper=0.02,buffer2048=0.1`,
    )
    .option('--changes-interval <seconds>', 'seconds between one device’s /changes polls (0: never)', '5')
    .option('--commands-interval <seconds>', 'seconds between one device’s command polls (0: never)', '10')
    .option('--ota-interval <seconds>', 'seconds between one device’s firmware checks (0: never)', '60')
    .option(
      '--key-dir <dir>',
      'firmware key directory for updates (ECOWATT_KEY_DIR, default <data dir>/keys)',
    )
    .option(
      '-d, --data-dir <dir>',
      'data directory holding the firmware keys (ECOWATT_DATA_DIR, default ./data)',
    )
    .option('--body-limit <bytes>', 'the server’s body limit, for oversized uploads', '65536')
    .option('--json', 'print the summary as JSON')
    .action(
      guarded(async (o: Record<string, string | boolean | undefined>) => {
        const v2Devices = typeof o.v2Keys === 'string' ? readV2Identities(o.v2Keys) : [];
        const total = num('devices', String(o.devices), v2Devices.length > 0 ? 0 : 1, true);
        const generation = String(o.generation);
        if (!(GENERATION_CHOICES as readonly string[]).includes(generation)) {
          throw new CliError(`--generation takes ${GENERATION_CHOICES.join(', ')}`);
        }
        const share = num('gen13-share', String(o.gen13Share), 0, false);
        if (share > 1) throw new CliError('--gen13-share takes a fraction from 0 to 1');
        // e84f720 devices take the first ids, 1.3 devices the ones after them.
        const gen13Devices =
          generation === '1.3' ? total : generation === 'mixed' ? Math.round(total * share) : 0;
        const devices = total - gen13Devices;
        const interval = num('interval', String(o.interval), 0.001, false);
        const uploads = o.uploads !== undefined ? num('uploads', String(o.uploads), 1, true) : undefined;
        const duration = uploads === undefined ? num('duration', String(o.duration), 0.1, false) : undefined;
        const keys = {
          hmacKey: hexKey('fleet-key', o.fleetKey as string | undefined, 32) ?? FIELD_KEYS.hmacKey,
          aesKey: hexKey('aes-key', o.aesKey as string | undefined, 16) ?? FIELD_KEYS.aesKey,
          iv: hexKey('iv', o.iv as string | undefined, 16) ?? FIELD_KEYS.iv,
        };
        const misbehave = misbehaviour(o.misbehave as string | undefined);
        const bodyLimit = num('body-limit', String(o.bodyLimit), 1024, true);
        const changesInterval = num('changes-interval', String(o.changesInterval), 0, false);
        const commandsInterval = num('commands-interval', String(o.commandsInterval), 0, false);
        const otaInterval = num('ota-interval', String(o.otaInterval), 0, false);
        const updateKeys = otaInterval > 0 && devices + v2Devices.length > 0 ? firmwareKeys(o) : undefined;
        const updateKeys13 = otaInterval > 0 && gen13Devices > 0 ? firmwareKeys(o, '1.3') : undefined;
        const nvs13 = gen13Settings(o.gen13Config as string | undefined);
        const faults13 = faultRates(o.faults as string | undefined);
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        const summary = await runSimulation({
          url: String(o.url),
          devices,
          intervalSeconds: interval,
          ...(duration !== undefined ? { durationSeconds: duration } : {}),
          ...(uploads !== undefined ? { uploadsPerDevice: uploads } : {}),
          encrypt: o.encrypt === true,
          keys,
          idPrefix: String(o.prefix),
          v2Devices,
          seed: num('seed', String(o.seed), 0, true),
          signal: controller.signal,
          varied: o.varied === true,
          misbehave,
          bodyLimit,
          changesIntervalSeconds: changesInterval,
          commandsIntervalSeconds: commandsInterval,
          firmwareIntervalSeconds: otaInterval,
          ...(updateKeys ? { firmwareKeys: updateKeys } : {}),
          ...(gen13Devices > 0
            ? {
                gen13: {
                  devices: gen13Devices,
                  ...(nvs13 ? { nvs: nvs13 } : {}),
                  ...(faults13 ? { faults: faults13 } : {}),
                  ...(updateKeys13 ? { firmwareKeys: updateKeys13 } : {}),
                },
              }
            : {}),
          ...(o.json ? {} : { onProgress: progressPrinter() }),
        });
        const { acknowledged: _ack, ...printable } = summary;
        if (o.json) {
          process.stdout.write(`${JSON.stringify(printable)}\n`);
        } else {
          process.stdout.write(`${summaryLines(summary).join('\n')}\n`);
        }
        // Refusals of misbehaving uploads are the server doing its job; only answers that are not
        // what it must give (a valid upload refused or lost, a bad one accepted) are failures.
        if (summary.unexpected > 0) process.exitCode = 1;
      }),
    );
}
