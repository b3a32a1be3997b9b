/**
 * A simulated generation 1.3 device's reactions to configuration and command answers, against
 * every control vector the 1.3 firmware produced (head/control.json): what it stores in NVS, what
 * it runs, whether and what it acknowledges; which command it runs, what it asks of the inverter
 * and the result it posts.
 */
import { describe, expect, it } from 'vitest';
import {
  applyCommand13,
  commandResult13,
  describeEffect13,
  planCommand13,
  readCommandPoll13,
} from '../../../src/sim/gen13-commands.js';
import {
  bootConfig13,
  currentConfigBody13,
  freshNvs13,
  reactToConfig13,
} from '../../../src/sim/gen13-config.js';
import { Inverter } from '../../../src/sim/inverter.js';
import { nvsHex } from '../../helpers/gen13-firmware.js';
import { fixture } from '../../helpers/uploads.js';

interface Request {
  method: string;
  url: string;
  body: string;
}

interface ControlVector {
  id: string;
  endpoint: string;
  answer_code: number;
  answer_body: string;
  requests: Request[];
  acknowledged?: boolean;
  nvs_after?: Record<string, Record<string, string>>;
  poll_us_after?: number;
  upload_us_after?: number;
  registers_after_reboot?: number[];
  result_posted?: Record<string, unknown> | null;
  modbus_side_effects?: string[];
}

const vectors = fixture<ControlVector[]>('head/control.json');
const configVectors = vectors.filter((v) => v.endpoint === 'GET /config/<id>');
const commandVectors = vectors.filter((v) => v.endpoint === 'GET /commands/<id>/poll');
/** The device clock of the vectors (host stub). */
const NOW_S = 1_765_000_000;
/** The NVS the vectors start from: defaults, with the older 6-register selection of nvs.cpp. */
const START = freshNvs13([0, 1, 5, 6, 7, 9]);

describe('configuration answers (GET /config/<id>)', () => {
  it.each(configVectors.map((v) => [v.id, v] as const))('%s', (_, v) => {
    const r = reactToConfig13(v.answer_code, v.answer_body, START, bootConfig13(START), NOW_S);
    expect(nvsHex(r.nvs)).toEqual(v.nvs_after);
    expect(r.config.pollUs).toBe(v.poll_us_after);
    expect(r.config.uploadUs).toBe(v.upload_us_after);
    // What the next boot polls: the selection NVS holds.
    expect(bootConfig13(r.nvs).registers).toEqual(v.registers_after_reboot);
    expect(r.changed).toBe(v.acknowledged);
    const ack = v.requests.find((q) => q.url.endsWith('/acknowledge'));
    // Byte for byte: the firmware serialises its document in this key order.
    expect(r.ack === null ? null : JSON.stringify(r.ack)).toBe(ack ? ack.body : null);
  });

  it('covers every configuration vector', () => {
    expect(configVectors.length).toBe(11);
  });

  it('takes the keys the vectors do not reach as config_manager.cpp does', () => {
    const nvs = freshNvs13();
    const config = bootConfig13(nvs);
    const answer = (change: Record<string, unknown>) =>
      JSON.stringify({ is_pending: true, pending_config: { config_update: change } });
    // Timer intervals always count as a change when non-zero (nvs::change*Freq says so).
    const same = reactToConfig13(200, answer({ command_poll_interval: 10 }), nvs, config, NOW_S);
    expect(same.keys).toEqual(['command_poll_interval']);
    expect(reactToConfig13(200, answer({ config_poll_interval: 0 }), nvs, config, NOW_S).changed).toBe(false);
    // Energy below a minute: the timer takes it, NVS keeps the old value (a reboot restores it).
    const energy = reactToConfig13(200, answer({ energy_poll_interval: 10 }), nvs, config, NOW_S);
    expect(energy.config.energyUs).toBe(10_000_000);
    expect(energy.nvs.energyUs).toBe(300_000_000);
    expect(energy.ack?.power_management.energy_poll_freq).toBe(300_000_000);
    const pm = reactToConfig13(
      200,
      answer({ power_management: { enabled: true, techniques: 5 }, energy_poll_interval: 120 }),
      nvs,
      config,
      NOW_S,
    );
    expect(pm.keys).toEqual(['power_management', 'energy_poll_interval']);
    expect(pm.ack?.power_management).toEqual({ enabled: true, techniques: 5, energy_poll_freq: 120_000_000 });
    // Techniques beyond the four bits are refused by NVS but still count as a change.
    const wide = reactToConfig13(200, answer({ power_management: { techniques: 0x1f } }), nvs, config, NOW_S);
    expect(wide.changed).toBe(true);
    expect(wide.nvs.techniques).toBe(8);
    // The running configuration the device reports at boot, in the firmware's key order.
    expect(Object.keys(currentConfigBody13(nvs, config, NOW_S))).toEqual([
      'sampling_interval',
      'upload_interval',
      'config_poll_interval',
      'command_poll_interval',
      'firmware_check_interval',
      'energy_poll_interval',
      'power_management',
      'compression_enabled',
      'timestamp',
      'registers',
    ]);
    expect(currentConfigBody13(nvs, config, NOW_S)).toMatchObject({
      sampling_interval: 5,
      upload_interval: 15,
      config_poll_interval: 5,
      command_poll_interval: 10,
      firmware_check_interval: 6000,
      energy_poll_interval: 300,
      registers: ['Vac1', 'Iac1', 'Fac1', 'Vpv1', 'Vpv2', 'Ipv1', 'Ipv2', 'Temp', 'Pow', 'Pac'],
    });
  });
});

describe('command answers (GET /commands/<id>/poll)', () => {
  it.each(commandVectors.map((v) => [v.id, v] as const))('%s', (_, v) => {
    const command = readCommandPoll13(v.answer_code, v.answer_body);
    if (v.result_posted === null) {
      expect(command).toBeNull();
      expect(v.modbus_side_effects).toEqual([]);
      return;
    }
    expect(command).not.toBeNull();
    if (!command) return;
    const effect = planCommand13(command);
    expect(describeEffect13(effect)).toEqual(v.modbus_side_effects);
    // The vectors' Modbus side is a stub that accepts every write.
    const ok = effect.kind !== 'unknown';
    const posted = v.result_posted as { command_result: { executed_at: string } };
    const at = Date.parse(posted.command_result.executed_at);
    const result = commandResult13(command.id, ok, at + 999);
    expect(result).toEqual(v.result_posted);
    const post = v.requests.find((q) => q.url.endsWith('/result'));
    expect(JSON.stringify(result)).toBe(post?.body);
  });

  it('covers every command vector', () => {
    expect(commandVectors.length).toBe(10);
  });

  it('runs the effect on the simulated inverter: only the export limit is writable', () => {
    const inverter = new Inverter({ ratedPowerW: 5000, noise: 0, seed: 1 });
    expect(applyCommand13({ kind: 'write', address: 8, value: 50 }, inverter)).toBe(true);
    expect(inverter.exportLimitPercent).toBe(50);
    expect(applyCommand13({ kind: 'power', percent: 100 }, inverter)).toBe(true);
    expect(inverter.exportLimitPercent).toBe(100);
    // The Inverter SIM answers a write elsewhere, or beyond 100 %, with a Modbus exception.
    expect(applyCommand13({ kind: 'write', address: 9, value: 1 }, inverter)).toBe(false);
    expect(applyCommand13({ kind: 'write', address: 8, value: 150 }, inverter)).toBe(false);
    expect(inverter.exportLimitPercent).toBe(100);
    expect(applyCommand13({ kind: 'local' }, inverter)).toBe(true);
    expect(applyCommand13({ kind: 'unknown' }, inverter)).toBe(false);
  });

  it('ignores an answer that does not fit the 512-byte document', () => {
    const big = JSON.stringify({
      commands: [{ command_id: 'x'.repeat(600), command: { action: 'set_power', value: 1 } }],
      count: 1,
    });
    expect(readCommandPoll13(200, big)).toBeNull();
  });
});
