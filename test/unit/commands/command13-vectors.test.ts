/**
 * Every command case of head/control.json, seen from the 1.3 device: the emulated
 * `checkAndExecuteCommands` reproduces each vector, then judges the poll answers the server gives
 * for what an operator can queue; the results the device posts are read back; the answer fits the
 * firmware's 512-byte document.
 */
import { describe, expect, it } from 'vitest';
import {
  arduinoJsonBytes,
  buildCommandPollAnswer,
  COMMAND_DOCUMENT_BYTES,
  firmwareCommand,
} from '../../../src/commands/command-answer.js';
import { parseCommand } from '../../../src/commands/command-schema.js';
import { parseDeviceResult } from '../../../src/commands/command-service.js';
import type { StoredCommand } from '../../../src/ports/command-store.js';
import { emulateCommandPoll } from '../../helpers/gen13-firmware.js';
import { fixture } from '../../helpers/uploads.js';

interface CommandVector {
  id: string;
  endpoint: string;
  answer_code: number;
  answer_body: string;
  result_posted: Record<string, unknown> | null;
  modbus_side_effects: string[];
}

const vectors = fixture<CommandVector[]>('head/control.json').filter(
  (v) => v.endpoint === 'GET /commands/<id>/poll',
);
const vector = (id: string) => vectors.find((v) => v.id === id) as CommandVector;

/** A command as the admin API queues it, then stored (`id` as the database gives it). */
function queued(body: Record<string, unknown>, id = '41'): StoredCommand {
  const parsed = parseCommand(body);
  if ('errors' in parsed) throw new Error(`unexpectedly refused: ${JSON.stringify(parsed.errors)}`);
  const { spec } = parsed;
  return {
    id,
    deviceId: 'ESP32_001',
    type: spec.type,
    params: spec.params,
    percent: spec.percent,
    status: 'in_flight',
    attempts: 1,
    maxAttempts: 3,
    leaseMs: 60_000,
    leaseUntil: 1,
    createdAt: 0,
    createdBy: 'admin',
    reason: null,
    deliveredAt: 0,
    completedAt: null,
    detail: null,
    cancelledBy: null,
  };
}

/** What the device does with the server's answer for these queued commands. */
const run = (...commands: StoredCommand[]) =>
  emulateCommandPoll(200, JSON.stringify(buildCommandPollAnswer(commands)));
const result = (id: string, status: 'success' | 'failed') => ({
  command_result: { command_id: id, status, executed_at: '2025-12-06T05:46:40Z' },
});

describe('the 1.3 device emulation', () => {
  it.each(vectors.map((v) => [v.id, v] as const))('reproduces vector %s', (_id, v) => {
    expect(emulateCommandPoll(v.answer_code, v.answer_body)).toEqual({
      result_posted: v.result_posted,
      modbus_side_effects: v.modbus_side_effects,
    });
  });
});

describe('server answers, judged by the emulated 1.3 device', () => {
  it('cmd-write-register: write_register carries the numeric register_address and writes Pow', () => {
    const c = queued({ type: 'write_register', register: 'export_power', value: 50 });
    expect(buildCommandPollAnswer([c])).toEqual({
      commands: [{ command_id: '41', command: { action: 'write_register', register_address: 8, value: 50 } }],
      count: 1,
    });
    expect(run(c)).toEqual({
      result_posted: result('41', 'success'),
      modbus_side_effects: vector('cmd-write-register').modbus_side_effects,
    });
  });

  it('cmd-write-register-numeric-target: any spelling of the register becomes address 8', () => {
    for (const register of ['8', 8, 'Pow', 'pow', 'REG_POW']) {
      expect(
        run(queued({ type: 'write_register', register, value: 75 })).modbus_side_effects,
        String(register),
      ).toEqual(vector('cmd-write-register-numeric-target').modbus_side_effects);
    }
  });

  it('cmd-write-register-name-only: the answer never lacks register_address (the old guessed one did)', () => {
    const guessed = {
      success: true,
      commands: [
        {
          command_id: '41',
          command: { action: 'write_register', target_register: 'export_power', value: 75 },
        },
      ],
      count: 1,
    };
    expect(emulateCommandPoll(200, JSON.stringify(guessed))).toEqual({
      result_posted: result('41', 'failed'),
      modbus_side_effects: vector('cmd-write-register-name-only').modbus_side_effects,
    });
    expect(
      run(queued({ type: 'write_register', register: 'export_power', value: 75 })).result_posted,
    ).toEqual(result('41', 'success'));
  });

  it('write_register to any register but Pow is refused when queued', () => {
    for (const register of ['Vac1', 'Pac', 9, 0, '0', 'Bogus']) {
      const parsed = parseCommand({ type: 'write_register', register, value: 50 });
      expect('errors' in parsed && Object.keys(parsed.errors), String(register)).toEqual(['register']);
    }
  });

  it('cmd-set-power: set_power travels in watts and the device converts with its 10 kW', () => {
    const c = queued({ type: 'set_power', power_value: 5000 });
    expect(firmwareCommand(c)).toEqual({ action: 'set_power', value: 5000 });
    expect(run(c)).toEqual({
      result_posted: result('41', 'success'),
      modbus_side_effects: vector('cmd-set-power').modbus_side_effects,
    });
    // Every queueable power maps onto the same percent the server recorded for the command.
    for (let w = 0; w <= 10_000; w += 100) {
      const q = queued({ type: 'set_power', power_value: w });
      expect(run(q).modbus_side_effects).toEqual([`setPower(${q.percent}) -> register 8`]);
    }
  });

  it('cmd-set-power-percentage-clamped: percentages above 100 are refused when queued, 100 is 100', () => {
    expect('errors' in parseCommand({ type: 'set_power_percentage', percentage: 150 })).toBe(true);
    const c = queued({ type: 'set_power_percentage', percentage: 100 });
    expect(firmwareCommand(c)).toEqual({ action: 'set_power_percentage', value: 100 });
    expect(run(c).modbus_side_effects).toEqual(
      vector('cmd-set-power-percentage-clamped').modbus_side_effects,
    );
  });

  it('cmd-unknown-action / cmd-reset-power-stats: only the three export-limit writes can be queued', () => {
    for (const type of ['update_config', 'reset_power_stats', 'get_peripheral_stats']) {
      const parsed = parseCommand({ type });
      expect('errors' in parsed && Object.keys(parsed.errors), type).toEqual(['type']);
    }
    expect(vector('cmd-unknown-action').result_posted).toEqual(result('c-7', 'failed'));
  });

  it('cmd-missing-count / cmd-missing-command-object: every answer has count and the command object', () => {
    const three = [
      queued({ type: 'set_power_percentage', percentage: 10 }, '7'),
      queued({ type: 'set_power_percentage', percentage: 20 }, '8'),
      queued({ type: 'set_power_percentage', percentage: 30 }, '9'),
    ];
    // One command per answer: the device runs only commands[0], so the others must wait for a poll.
    expect(buildCommandPollAnswer(three)).toEqual({
      commands: [{ command_id: '7', command: { action: 'set_power_percentage', value: 10 } }],
      count: 1,
    });
    expect(buildCommandPollAnswer([])).toEqual({ commands: [], count: 0 });
    expect(emulateCommandPoll(200, JSON.stringify(buildCommandPollAnswer([])))).toEqual({
      result_posted: null,
      modbus_side_effects: [],
    });
    expect(vector('cmd-missing-count').result_posted).toBeNull();
    expect(vector('cmd-missing-command-object').result_posted).toBeNull();
  });

  it('cmd-http-500: command ids are strings (a number reads as "" on the device)', () => {
    const answer = buildCommandPollAnswer([queued({ type: 'set_power', power_value: 100 }, '123')]);
    expect(typeof answer.commands[0].command_id).toBe('string');
    const numeric = { ...answer, commands: [{ ...answer.commands[0], command_id: 123 }] };
    expect(emulateCommandPoll(200, JSON.stringify(numeric)).result_posted).toEqual(result('', 'success'));
    expect(vector('cmd-http-500').result_posted).toBeNull();
  });
});

describe('the answer fits the firmware’s StaticJsonDocument<512>', () => {
  it('counts like ArduinoJson: the vectors that ran on a 64-bit host (32-byte slots) fit', () => {
    for (const v of vectors.filter((x) => x.result_posted !== null)) {
      expect(arduinoJsonBytes(JSON.parse(v.answer_body), 32), v.id).toBeLessThanOrEqual(
        COMMAND_DOCUMENT_BYTES,
      );
    }
  });

  it('the largest answer the server can give stays far inside 512 bytes, even with 64-bit slots', () => {
    const worst = [
      queued({ type: 'write_register', register: 'Pow', value: 100 }, '9223372036854775807'),
      queued({ type: 'set_power_percentage', percentage: 100 }, '9223372036854775807'),
      queued({ type: 'set_power', power_value: 10_000 }, '9223372036854775807'),
    ];
    for (const c of worst) {
      const answer = buildCommandPollAnswer([c, ...worst]);
      expect(arduinoJsonBytes(answer), c.type).toBeLessThanOrEqual(256);
      expect(arduinoJsonBytes(answer, 32), c.type).toBeLessThanOrEqual(COMMAND_DOCUMENT_BYTES);
      expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThan(160);
      expect(emulateCommandPoll(200, JSON.stringify(answer)).result_posted).not.toBeNull();
    }
  });

  it('an answer too big for the document is ignored by the device (why the answer stays minimal)', () => {
    const padded = {
      ...buildCommandPollAnswer([queued({ type: 'set_power', power_value: 100 })]),
      pad: 'x'.repeat(400),
    };
    expect(arduinoJsonBytes(padded)).toBeGreaterThan(COMMAND_DOCUMENT_BYTES);
    expect(emulateCommandPoll(200, JSON.stringify(padded)).result_posted).toBeNull();
  });
});

describe('results the 1.3 device posts', () => {
  it('reads every result of the vectors, keeping the device’s executed_at', () => {
    for (const v of vectors.filter((x) => x.result_posted !== null)) {
      const r = v.result_posted as { command_result: { command_id: string; status: string } };
      expect(parseDeviceResult(v.result_posted as Record<string, unknown>), v.id).toEqual({
        commandId: r.command_result.command_id,
        status: r.command_result.status === 'success' ? 'succeeded' : 'failed',
        detail: 'executed at 2025-12-06T05:46:40Z (device clock)',
      });
    }
  });

  it('keeps an odd executed_at as text rather than losing the outcome', () => {
    expect(
      parseDeviceResult({ command_result: { command_id: '5', status: 'failed', executed_at: 'soon' } }),
    ).toEqual({
      commandId: '5',
      status: 'failed',
      detail: 'executed at "soon" (device clock, not ISO 8601)',
    });
    expect(parseDeviceResult({ command_id: '5', status: 'succeeded' })).toEqual({
      commandId: '5',
      status: 'succeeded',
      detail: null,
    });
  });
});
