import { describe, expect, it } from 'vitest';
import {
  applyPatch,
  checkConfig,
  INTERVAL_RANGES,
  mergeConfig,
  parseConfigPatch,
} from '../../../src/config/config-schema.js';
import { CONFIG_KEYS, INTERVAL_KEYS } from '../../../src/model/config.js';

describe('configuration keys', () => {
  it.each(INTERVAL_KEYS.map((k) => [k]))('%s takes whole seconds in its range only', (key) => {
    const { min, max } = INTERVAL_RANGES[key];
    expect(parseConfigPatch({ [key]: min })).toEqual({ patch: { [key]: min }, errors: {} });
    expect(parseConfigPatch({ [key]: max })).toEqual({ patch: { [key]: max }, errors: {} });
    for (const bad of [min - 1, max + 1, 0, 0.5, min + 0.25, -3, '5', true, [5], Number.NaN]) {
      const r = parseConfigPatch({ [key]: bad });
      expect(r.patch, `${key}=${String(bad)}`).toEqual({});
      expect(r.errors[key], `${key}=${String(bad)}`).toBeTypeOf('string');
    }
  });

  it('says why a fraction cannot be sent', () => {
    expect(parseConfigPatch({ sampling_interval: 0.5 }).errors.sampling_interval).toMatch(/reads 0\.5 as 0/);
  });

  it('registers: any spelling or RegID, stored as REGISTER_MAP names in the order given', () => {
    expect(parseConfigPatch({ registers: ['VAC1', 'reg_iac1', 'Pac', 7] }).patch).toEqual({
      registers: ['Vac1', 'Iac1', 'Pac', 'Temp'],
    });
    for (const bad of [[], ['Volts'], ['Vac1', 'VAC1'], 'Vac1,Pac', [42], [null]]) {
      expect(parseConfigPatch({ registers: bad }).errors.registers, JSON.stringify(bad)).toBeTypeOf('string');
    }
  });

  it('power_management is a boolean', () => {
    expect(parseConfigPatch({ power_management: false }).patch).toEqual({ power_management: false });
    expect(parseConfigPatch({ power_management: 'on' }).errors.power_management).toBeTypeOf('string');
  });

  it('names every bad field at once, unknown keys included, and keeps none of them', () => {
    const r = parseConfigPatch({
      sampling_interval: 0,
      upload_interval: 2.5,
      registers: ['Nope'],
      firmware_check_interval: 30,
      power_management: 1,
      colour: 'blue',
      command_poll_interval: 10,
    });
    expect(Object.keys(r.errors).sort()).toEqual(
      [
        'colour',
        'firmware_check_interval',
        'power_management',
        'registers',
        'sampling_interval',
        'upload_interval',
      ].sort(),
    );
    expect(r.patch).toEqual({ command_poll_interval: 10 });
  });

  it('null removes a key from a scope', () => {
    const { patch } = parseConfigPatch({ upload_interval: null });
    expect(applyPatch({ upload_interval: 30, sampling_interval: 5 }, patch)).toEqual({
      sampling_interval: 5,
    });
  });

  it('knows every key the later firmware names', () => {
    expect([...CONFIG_KEYS].sort()).toEqual(
      [
        'command_poll_interval',
        'config_poll_interval',
        'energy_poll_interval',
        'firmware_check_interval',
        'power_management',
        'registers',
        'sampling_interval',
        'upload_interval',
      ].sort(),
    );
  });
});

describe('the upload-size rule (PROTOCOL.md §1.4)', () => {
  it('refuses an upload interval at 20 × the sampling interval, where every upload holds 4 packets', () => {
    const errors = checkConfig({ sampling_interval: 2, upload_interval: 40 }, ['upload_interval']);
    expect(errors.upload_interval).toMatch(/4 packets/);
    expect(errors.upload_interval).toMatch(/never uploads again/);
  });

  it('also refuses intervals where only some uploads would hold 4 packets', () => {
    // One packet every 10 s; in any 38 s window 3 or 4 packets complete.
    expect(checkConfig({ sampling_interval: 2, upload_interval: 38 })).toHaveProperty('upload_interval');
    expect(checkConfig({ sampling_interval: 2, upload_interval: 31 })).toHaveProperty('upload_interval');
  });

  it('accepts up to 3 packets per upload', () => {
    expect(checkConfig({ sampling_interval: 2, upload_interval: 30 })).toEqual({});
    expect(checkConfig({ sampling_interval: 5, upload_interval: 30 })).toEqual({});
    expect(checkConfig({})).toEqual({});
  });

  it('uses the firmware defaults (2 s, 15 s) for what is not set', () => {
    expect(checkConfig({ upload_interval: 31 })).toHaveProperty('upload_interval');
    expect(checkConfig({ sampling_interval: 1 })).toEqual({});
  });

  it('blames the key that was just changed', () => {
    const merged = mergeConfig({ upload_interval: 30 }, { sampling_interval: 1 });
    expect(Object.keys(checkConfig(merged, ['sampling_interval']))).toEqual(['sampling_interval']);
    expect(Object.keys(checkConfig(merged, ['upload_interval']))).toEqual(['upload_interval']);
  });
});
