/** The simulated device reads `/changes` answers as the e84f720 firmware does (changes.json vectors). */
import { describe, expect, it } from 'vitest';
import { readChangesAnswer } from '../../../src/sim/device-settings.js';
import { fixture } from '../../helpers/uploads.js';

interface ChangesVector {
  id: string;
  response_body: unknown;
  nvs_after: { freq?: { poll_freq?: string; upload_freq?: string }; readregs?: { read_regs: string } };
}

const usToMs = (le: string | undefined) =>
  le === undefined ? undefined : Number(Buffer.from(le, 'hex').readBigUInt64LE()) / 1000;

describe('readChangesAnswer', () => {
  it('writes exactly what the firmware writes to NVS for every vector', () => {
    for (const v of fixture<ChangesVector[]>('changes.json')) {
      const { settings } = readChangesAnswer(v.response_body);
      const regs = v.nvs_after.readregs?.read_regs;
      expect(settings, v.id).toEqual({
        ...(v.nvs_after.freq?.poll_freq ? { pollMs: usToMs(v.nvs_after.freq.poll_freq) } : {}),
        ...(v.nvs_after.freq?.upload_freq ? { uploadMs: usToMs(v.nvs_after.freq.upload_freq) } : {}),
        ...(regs ? { registers: [...Buffer.from(regs, 'hex')] } : {}),
      });
    }
  });

  it('does nothing unless Changed is true, and says whether it was', () => {
    expect(readChangesAnswer({ Changed: false, pollFreqChanged: true, newPollTimer: 9 })).toEqual({
      changed: false,
      settings: {},
    });
    expect(readChangesAnswer('nonsense').changed).toBe(false);
    expect(readChangesAnswer({ Changed: true, pollFreqChanged: true, newPollTimer: 0 })).toEqual({
      changed: true,
      settings: {},
    });
  });

  it('takes the server’s answer shape: whole seconds, an array of names with its count', () => {
    const answer = {
      Changed: true,
      pollFreqChanged: true,
      newPollTimer: 1,
      uploadFreqChanged: true,
      newUploadTimer: 5,
      regsChanged: true,
      regsCount: 3,
      regs: ['Vac1', 'Pow', 'Pac'],
    };
    expect(readChangesAnswer(answer).settings).toEqual({
      pollMs: 1000,
      uploadMs: 5000,
      registers: [0, 8, 9],
    });
    expect(readChangesAnswer({ ...answer, regs: '' }).settings.registers).toBeUndefined();
  });
});
