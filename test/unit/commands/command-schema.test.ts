import { describe, expect, it } from 'vitest';
import { settleLease } from '../../../src/commands/command-lease.js';
import { parseCommand } from '../../../src/commands/command-schema.js';
import { parseDeviceResult } from '../../../src/commands/command-service.js';

const errorsOf = (body: Record<string, unknown>) => {
  const r = parseCommand(body);
  return 'errors' in r ? r.errors : {};
};

describe('commands', () => {
  it('write_register accepts the writable register in any naming, 0..100 %', () => {
    for (const register of ['Pow', 'POW', 'REG_POW', 8, '8', 'export_power']) {
      const r = parseCommand({ type: 'write_register', register, value: 55 });
      expect(r, String(register)).toMatchObject({
        spec: { params: { register_address: 8, value: 55 }, percent: 55 },
      });
    }
  });

  it('refuses read-only registers, naming the one that is writable', () => {
    for (const register of ['Vac1', 9, 'PAC', '0']) {
      expect(errorsOf({ type: 'write_register', register, value: 10 }).register).toMatch(/read-only.*Pow/);
    }
    expect(errorsOf({ type: 'write_register', register: 'Volts', value: 10 }).register).toMatch(/only Pow/);
  });

  it('checks value ranges and types', () => {
    expect(errorsOf({ type: 'write_register', register: 'Pow', value: 101 })).toHaveProperty('value');
    expect(errorsOf({ type: 'set_power_percentage', percentage: -1 })).toHaveProperty('percentage');
    expect(errorsOf({ type: 'set_power_percentage', percentage: 12.5 })).toHaveProperty('percentage');
    expect(errorsOf({ type: 'set_power_percentage', percentage: '50' })).toHaveProperty('percentage');
    expect(parseCommand({ type: 'set_power_percentage', percentage: 0 })).toMatchObject({
      spec: { percent: 0 },
    });
  });

  it('set_power takes watts of the 10 kW the firmware assumes, in whole percent', () => {
    expect(parseCommand({ type: 'set_power', power_value: 5000 })).toMatchObject({
      spec: { params: { power_value: 5000 }, percent: 50 },
    });
    expect(errorsOf({ type: 'set_power', power_value: 2550 }).power_value).toMatch(/2500 W/);
    expect(errorsOf({ type: 'set_power', power_value: 10_100 })).toHaveProperty('power_value');
  });

  it('names every bad field, unknown ones included', () => {
    const errors = errorsOf({
      type: 'write_register',
      register: 'Pac',
      value: 300,
      lease_seconds: 0,
      colour: 1,
    });
    expect(Object.keys(errors).sort()).toEqual(['colour', 'lease_seconds', 'register', 'value']);
    expect(errorsOf({ type: 'reboot' })).toHaveProperty('type');
    expect(errorsOf({})).toHaveProperty('type');
  });

  it('reads results in both field shapes', () => {
    expect(parseDeviceResult({ command_id: '7', status: 'succeeded' })).toEqual({
      commandId: '7',
      status: 'succeeded',
      detail: null,
    });
    expect(
      parseDeviceResult({ command_result: { command_id: 7, status: 'success', executed_at: 'x' } }),
    ).toMatchObject({
      commandId: '7',
      status: 'succeeded',
    });
    expect(
      parseDeviceResult({ command_id: '7', status: 'failed', detail: 'Modbus exception 2' }),
    ).toMatchObject({
      status: 'failed',
      detail: 'Modbus exception 2',
    });
    expect(() => parseDeviceResult({ command_id: '7', status: 'maybe' })).toThrow(/status/);
  });
});

describe('leases', () => {
  const inFlight = { status: 'in_flight' as const, attempts: 1, maxAttempts: 2, leaseUntil: 1000 };
  it('keeps a command in flight until its lease lapses, then offers it again, then expires it', () => {
    expect(settleLease(inFlight, 999)).toBe('in_flight');
    expect(settleLease(inFlight, 1000)).toBe('pending');
    expect(settleLease({ ...inFlight, attempts: 2 }, 1000)).toBe('expired');
    expect(settleLease({ ...inFlight, status: 'succeeded', leaseUntil: null }, 5000)).toBe('succeeded');
  });
});
