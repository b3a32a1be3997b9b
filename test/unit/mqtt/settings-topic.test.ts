import { describe, expect, it } from 'vitest';
import { isSettingsTopic, parseFieldSettings } from '../../../src/mqtt/settings-topic.js';

/** What the Node-RED settings tab publishes (PROTOCOL.md §5.4). */
const nodeRed = {
  Changed: true,
  pollFreqChanged: true,
  newPollTimer: 5,
  uploadFreqChanged: true,
  newUploadTimer: 15,
  regsChanged: true,
  regs: ['VAC1', 'PAC'],
  regsCount: 2,
};

const parse = (doc: unknown) => parseFieldSettings(JSON.stringify(doc));

describe('settings topic payloads', () => {
  it('parses the Node-RED payload', () => {
    const r = parse(nodeRed);
    expect(r).toEqual({
      ok: true,
      target: null,
      settings: {
        changed: true,
        pollIntervalSeconds: 5,
        uploadIntervalSeconds: 15,
        registers: [0, 9],
        unknownRegisters: [],
        warnings: [],
      },
    });
  });

  it('accepts register names in every spelling and regs as an array or a string', () => {
    const spellings: unknown[] = [
      ['VAC1', 'IAC1', 'TEMP'],
      ['Vac1', 'Iac1', 'Temp'],
      ['REG_VAC1', 'REG_IAC1', 'REG_TEMP'],
      ['vac1', 'reg_iac1', 'TeMp'],
      'VAC1,IAC1,TEMP',
      'Vac1 Iac1 Temp',
      'REG_VAC1; REG_IAC1; REG_TEMP',
      '["Vac1","IAC1","reg_temp"]',
    ];
    for (const regs of spellings) {
      const r = parse({ Changed: true, regsChanged: true, regs, regsCount: 3 });
      expect(r.ok && r.settings.registers, JSON.stringify(regs)).toEqual([0, 1, 7]);
    }
  });

  it("knows the dashboard's EXPORT_POWER switch as the export limit register", () => {
    const r = parse({ Changed: true, regsChanged: true, regs: ['EXPORT_POWER', 'REG_EXPORT_POWER', 'Pow'] });
    expect(r.ok && r.settings.registers).toEqual([8]);
  });

  it('names the target device when device_id is given, else all field devices', () => {
    expect(parse({ ...nodeRed, device_id: 'ESP32_EcoWatt_Smart' })).toMatchObject({
      ok: true,
      target: 'ESP32_EcoWatt_Smart',
    });
    expect(parse({ ...nodeRed, device_id: '' })).toMatchObject({ ok: true, target: null });
    expect(parse({ ...nodeRed, device_id: 7 })).toEqual({ ok: false, error: 'device_id must be a string' });
  });

  it('reports unknown names and a wrong regsCount without dropping the rest', () => {
    const r = parse({ Changed: true, regsChanged: true, regs: ['VAC1', 'BOGUS', 'VAC1'], regsCount: 5 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.settings.registers).toEqual([0]);
    expect(r.settings.unknownRegisters).toEqual(['BOGUS']);
    expect(r.settings.warnings.join(' ')).toMatch(/BOGUS/);
    expect(r.settings.warnings.join(' ')).toMatch(/regsCount 5/);
  });

  it('takes values only where their flag is set, as the device does', () => {
    const r = parse({
      Changed: true,
      pollFreqChanged: false,
      newPollTimer: 9,
      regsChanged: false,
      regs: ['VAC1'],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.settings.pollIntervalSeconds).toBeUndefined();
    expect(r.settings.registers).toBeUndefined();
    expect(r.settings.warnings).toEqual(['newPollTimer ignored: pollFreqChanged is not true']);
    expect(parse({ Changed: false })).toMatchObject({ ok: true, settings: { changed: false } });
  });

  it('refuses what cannot be applied safely', () => {
    expect(parseFieldSettings('not json')).toEqual({ ok: false, error: 'payload is not JSON' });
    expect(parse([1, 2])).toEqual({ ok: false, error: 'payload is not a JSON object' });
    expect(parse({ ...nodeRed, newPollTimer: 0 }).ok).toBe(false);
    expect(parse({ ...nodeRed, newPollTimer: 2.5 }).ok).toBe(false);
    expect(parse({ ...nodeRed, newUploadTimer: 'soon' }).ok).toBe(false);
    expect(parse({ ...nodeRed, Changed: 'maybe' })).toEqual({
      ok: false,
      error: 'Changed must be true or false',
    });
    expect(parse({ ...nodeRed, regs: ['NOPE'] })).toEqual({
      ok: false,
      error: 'regsChanged is true but regs names no known register',
    });
    expect(parse({ ...nodeRed, regs: 42 }).ok).toBe(false);
    expect(parseFieldSettings(JSON.stringify({ pad: 'x'.repeat(20_000) })).ok).toBe(false);
  });

  it('accepts numbers and flags as strings from hand-made clients', () => {
    const r = parse({ Changed: 'true', pollFreqChanged: 1, newPollTimer: '10' });
    expect(r).toMatchObject({ ok: true, settings: { changed: true, pollIntervalSeconds: 10 } });
  });

  it('recognises settings topics', () => {
    expect(isSettingsTopic('esp32/ecowatt_settings')).toBe(true);
    expect(isSettingsTopic('site/a/ecowatt_settings')).toBe(true);
    expect(isSettingsTopic('esp32/ecowatt_settings_old')).toBe(false);
    expect(isSettingsTopic('esp32/my_ecowatt_settings')).toBe(false);
  });
});
