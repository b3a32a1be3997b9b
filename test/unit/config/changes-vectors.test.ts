/**
 * Every case of changes.json, seen from the device: the emulated `checkChanges` reproduces each
 * vector, and then judges what the server answers for the operator's intended change.
 */
import { describe, expect, it } from 'vitest';
import {
  buildChangesResponse,
  type ChangesResponse,
  NO_CHANGE,
} from '../../../src/config/changes-response.js';
import {
  applyPatch,
  checkConfig,
  isSafeCadence,
  parseConfigPatch,
} from '../../../src/config/config-schema.js';
import { buildOffer, deriveKeyStatus, type KeyStatus } from '../../../src/config/config-state.js';
import { CONFIG_KEYS } from '../../../src/model/config.js';
import type { FieldErrors } from '../../../src/model/field-errors.js';
import { emulateCheckChanges } from '../../helpers/field-changes.js';
import { fixture } from '../../helpers/uploads.js';

interface ChangesVector {
  id: string;
  response_body: Record<string, unknown>;
  after_checkChanges: Record<string, boolean>;
  nvs_after: Record<string, Record<string, string>>;
  poll_freq_us_effective: number;
  upload_freq_us_effective: number;
  reg_count_after: number;
  selection_after_reboot: number[];
}

const vectors = fixture<ChangesVector[]>('changes.json');
const vector = (id: string) => vectors.find((v) => v.id === id) as ChangesVector;
const effectOf = (v: ChangesVector) => ({
  after_checkChanges: v.after_checkChanges,
  nvs_after: v.nvs_after,
  poll_freq_us_effective: v.poll_freq_us_effective,
  upload_freq_us_effective: v.upload_freq_us_effective,
  reg_count_after: v.reg_count_after,
  selection_after_reboot: v.selection_after_reboot,
});

/** The server's pure path from an operator's change to the first `/changes` answer a device gets. */
function respondTo(
  intent: Record<string, unknown>,
): { errors: FieldErrors } | { response: ChangesResponse; keys: KeyStatus[] } {
  const { patch, errors } = parseConfigPatch(intent);
  if (Object.keys(errors).length > 0) return { errors };
  const desired = applyPatch({}, patch);
  const cross = checkConfig(desired, Object.keys(patch));
  if (Object.keys(cross).length > 0) return { errors: cross };
  const keys = CONFIG_KEYS.filter((k) => desired[k] !== undefined).map((key) =>
    deriveKeyStatus(
      { key, desired: desired[key] as never, source: 'device', version: 1, delivery: undefined },
      [],
    ),
  );
  const { offer } = buildOffer(keys, {}, isSafeCadence);
  return { response: buildChangesResponse(offer), keys };
}

function answer(intent: Record<string, unknown>): { response: ChangesResponse; keys: KeyStatus[] } {
  const r = respondTo(intent);
  if ('errors' in r) throw new Error(`unexpectedly rejected: ${JSON.stringify(r.errors)}`);
  return r;
}

describe('the device emulation', () => {
  it.each(vectors.map((v) => [v.id, v] as const))('reproduces vector %s', (_id, v) => {
    expect(emulateCheckChanges(v.response_body)).toEqual(effectOf(v));
  });
});

describe('server answers, judged by the emulated device', () => {
  it('server-shape-freqs: poll 5 s / upload 30 s is the exact reference shape and takes effect', () => {
    const { response } = answer({ sampling_interval: 5, upload_interval: 30 });
    const v = vector('server-shape-freqs');
    expect(JSON.stringify(response)).toBe(JSON.stringify(v.response_body));
    expect(emulateCheckChanges(response)).toEqual(effectOf(v));
  });

  it('no-change: nothing to change answers the reference idle body byte for byte', () => {
    const v = vector('no-change');
    expect(JSON.stringify(answer({}).response)).toBe(JSON.stringify(v.response_body));
    expect(JSON.stringify(NO_CHANGE)).toBe(JSON.stringify(v.response_body));
    // A selection the device already runs is nothing to change either.
    const same = answer({ registers: ['Vac1', 'Iac1', 'Ipv1', 'Pac', 'Ipv2', 'Temp'] });
    expect(same.response).toEqual(v.response_body);
    expect(same.keys[0].state).toBe('applied');
    expect(emulateCheckChanges(same.response)).toEqual(effectOf(v));
  });

  it('flags-without-Changed: a sub-flag is never sent without Changed', () => {
    const intents = [
      { sampling_interval: 3 },
      { upload_interval: 20 },
      { registers: ['Pac'] },
      { sampling_interval: 4, registers: ['Vac1', 'Temp'] },
      {},
    ];
    for (const intent of intents) {
      const { response } = answer(intent);
      const anyFlag = response.pollFreqChanged || response.uploadFreqChanged || response.regsChanged;
      expect(response.Changed, JSON.stringify(intent)).toBe(anyFlag);
    }
    expect(emulateCheckChanges(answer({}).response)).toEqual(effectOf(vector('flags-without-Changed')));
  });

  it.each([
    ['poll-zero', 0],
    ['poll-fraction', 0.5],
  ])('%s: such a sampling interval is refused before it can reach a device', (id, value) => {
    const r = respondTo({ sampling_interval: value });
    expect(r).toHaveProperty('errors.sampling_interval');
    // What the vector shows the device would do: clear its flag and keep the old timer.
    const v = vector(id);
    expect(v.after_checkChanges.pollFreq_uptodate).toBe(false);
    expect(v.nvs_after).toEqual({});
  });

  it('regs-device-names-3: any spelling becomes REGISTER_MAP names; stored by the device, shown as unsupported', () => {
    const { response, keys } = answer({ registers: ['VAC1', 'iac1', 'REG_PAC'] });
    expect(response).toMatchObject({
      Changed: true,
      regsChanged: true,
      regsCount: 3,
      regs: ['Vac1', 'Iac1', 'Pac'],
    });
    expect(emulateCheckChanges(response)).toEqual(effectOf(vector('regs-device-names-3')));
    expect(keys.find((k) => k.key === 'registers')?.state).toBe('unsupported');
  });

  it('regs-device-names-6-reordered: the order is the device order', () => {
    const { response } = answer({ registers: ['PAC', 'vac1', 'Iac1', 'REG_IPV1', 'Ipv2', 'temp'] });
    expect(emulateCheckChanges(response)).toEqual(effectOf(vector('regs-device-names-6-reordered')));
  });

  it('regs-nodered-names: Node-RED spellings are normalised, so the device does match them', () => {
    const { response } = answer({ registers: ['VAC1', 'PAC'] });
    expect(response.regs).toEqual(['Vac1', 'Pac']);
    const effect = emulateCheckChanges(response);
    expect(effect.nvs_after).toEqual({ readregs: { read_regs: '0009' } });
    expect(effect).not.toEqual(effectOf(vector('regs-nodered-names')));
  });

  it('regs-count-larger-than-array: regsCount always equals the names sent', () => {
    const { response } = answer({ registers: ['Vac1', 'Pac'] });
    expect(response.regsCount).toBe((response.regs as string[]).length);
    expect(emulateCheckChanges(response)).toEqual(effectOf(vector('regs-count-larger-than-array')));
  });

  it('every answer carries the exact §5.2 key set, in order, with whole-second timers', () => {
    const keys = Object.keys(vector('server-shape-freqs').response_body);
    for (const intent of [{}, { sampling_interval: 1, upload_interval: 15 }, { registers: ['Temp'] }]) {
      const { response } = answer(intent);
      expect(Object.keys(response)).toEqual(keys);
      expect(Number.isInteger(response.newPollTimer) && Number.isInteger(response.newUploadTimer)).toBe(true);
    }
  });
});
