/** Commands as the simulated device runs them, for everything the server can queue and more. */
import { describe, expect, it } from 'vitest';
import { firmwareCommand } from '../../../src/commands/command-answer.js';
import { parseCommand } from '../../../src/commands/command-schema.js';
import { planCommand, readCommandPoll, runCommand } from '../../../src/sim/device-commands.js';
import { EXPORT_LIMIT_REGISTER, Inverter } from '../../../src/sim/inverter.js';

const PAC = 9;
const NOON = Date.UTC(2026, 5, 21, 12);

describe('readCommandPoll', () => {
  it('takes what the 1.3 firmware takes: commands[0] of a counted answer, with its command object', () => {
    const answer = (commands: unknown[], count = commands.length) => ({ commands, count });
    const first = { command_id: '7', command: { action: 'set_power', value: 2500 } };
    expect(
      readCommandPoll(
        answer([first, { command_id: '8', command: { action: 'set_power_percentage', value: 5 } }]),
      ),
    ).toEqual([{ id: '7', type: 'set_power', parameters: { value: 2500 } }]);
    // No count, no command object, a numeric id (read as ""): nothing runs.
    expect(readCommandPoll({ commands: [first] })).toEqual([]);
    expect(readCommandPoll(answer([{ command_id: '9', action: 'set_power', value: 1 }]))).toEqual([]);
    expect(readCommandPoll(answer([{ command_id: 9, command: { action: 'set_power', value: 1 } }]))).toEqual(
      [],
    );
    expect(readCommandPoll({ commands: [], count: 0 })).toEqual([]);
    expect(readCommandPoll(undefined)).toEqual([]);
  });
});

describe('planCommand', () => {
  it('writes the percent the server computed for every command it accepts', () => {
    const bodies = [
      { type: 'write_register', register: 'Pow', value: 60 },
      { type: 'write_register', register: 8, value: 0 },
      { type: 'set_power_percentage', percentage: 40 },
      { type: 'set_power', power_value: 2500 },
      { type: 'set_power', power_value: 10_000 },
    ];
    for (const body of bodies) {
      const parsed = parseCommand(body);
      if (!('spec' in parsed)) throw new Error(JSON.stringify(parsed.errors));
      const { action, ...parameters } = firmwareCommand({
        id: '1',
        type: parsed.spec.type,
        params: parsed.spec.params,
      });
      const plan = planCommand({ id: '1', type: action, parameters });
      expect(plan, JSON.stringify(body)).toEqual({ ok: true, percent: parsed.spec.percent });
    }
  });

  it('refuses, saying why, what it cannot do', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['reboot', {}, /unsupported command type "reboot"/],
      ['', {}, /unsupported command type ""/],
      ['write_register', { register_address: 9, value: 50 }, /register 9 is not writable/],
      [
        'write_register',
        { target_register: 'export_power', value: 50 },
        /register undefined is not writable/,
      ],
      ['write_register', { register_address: 8, value: 101 }, /whole percent/],
      ['set_power_percentage', { value: 12.5 }, /whole percent/],
      ['set_power', { value: 20_000 }, /value must be 0 to 10000 W/],
    ];
    for (const [type, parameters, why] of cases) {
      const plan = planCommand({ id: '1', type, parameters });
      expect(plan.ok, type).toBe(false);
      if (!plan.ok) expect(plan.detail).toMatch(why);
    }
  });
});

describe('runCommand', () => {
  it('sets the inverter’s export limit, which curtails its output and reads back as Pow', () => {
    const inverter = new Inverter({ ratedPowerW: 5000, noise: 0, seed: 1 });
    expect(inverter.read(NOON)[EXPORT_LIMIT_REGISTER]).toBe(100);
    const free = inverter.read(NOON)[PAC];
    expect(free).toBeGreaterThan(4000);
    const report = runCommand({ id: '3', type: 'set_power_percentage', parameters: { value: 40 } }, inverter);
    expect(report).toEqual({
      command_id: '3',
      status: 'succeeded',
      detail: 'export power limit set to 40 %',
    });
    const limited = inverter.read(NOON);
    expect(limited[EXPORT_LIMIT_REGISTER]).toBe(40);
    expect(limited[PAC]).toBe(2000);
  });

  it('leaves the inverter alone and reports a failure for a command it refuses', () => {
    const inverter = new Inverter({ ratedPowerW: 5000, noise: 0, seed: 1 });
    const report = runCommand({ id: '4', type: 'reboot', parameters: {} }, inverter);
    expect(report).toMatchObject({ command_id: '4', status: 'failed' });
    expect(inverter.exportLimitPercent).toBe(100);
    expect(() => inverter.setExportLimit(101)).toThrow(RangeError);
  });
});
