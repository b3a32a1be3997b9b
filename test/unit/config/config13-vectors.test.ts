/**
 * Every configuration case of head/control.json, seen from the 1.3 device: the emulated
 * `checkForChanges` reproduces each vector, then judges what the server answers for the change
 * an operator meant; the documents the device posts are read back. Also the per-key state of a
 * 1.3 device through the service, on the real SQLite store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlConfigStore } from '../../../src/adapters/sql/config-store.js';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { applyPatch, checkConfig, parseConfigPatch } from '../../../src/config/config-schema.js';
import { ConfigService } from '../../../src/config/config-service.js';
import type { KeyStatus } from '../../../src/config/config-state.js';
import {
  buildConfig13Answer,
  CONFIG13_IDLE,
  type Config13Answer,
  checkOffer13,
  parseAcknowledgement13,
  parseRunningConfig13,
} from '../../../src/config/config13-response.js';
import {
  buildOffer13,
  deriveKeyStatus13,
  UNACKNOWLEDGED_AFTER_OFFERS,
} from '../../../src/config/config13-state.js';
import type { Delivery } from '../../../src/model/config.js';
import { CONFIG_KEYS, type ConfigReport, type ConfigValue } from '../../../src/model/config.js';
import { ApiError } from '../../../src/model/errors.js';
import type { FieldErrors } from '../../../src/model/field-errors.js';
import { armedAt } from '../../../src/model/replay-window.js';
import { currentConfigBody, emulateConfigPoll, freshNvs } from '../../helpers/gen13-firmware.js';
import { fixture } from '../../helpers/uploads.js';

interface ConfigVector {
  id: string;
  endpoint: string;
  answer_code: number;
  answer_body: string;
  requests: { method: string; url: string; body: string }[];
  acknowledged: boolean;
  nvs_after: Record<string, Record<string, string>>;
  poll_us_after: number;
  upload_us_after: number;
  registers_after_reboot: number[];
}

const vectors = fixture<ConfigVector[]>('head/control.json').filter((v) => v.endpoint === 'GET /config/<id>');
const vector = (id: string) => vectors.find((v) => v.id === id) as ConfigVector;
const effectOf = (v: ConfigVector) => ({
  acknowledged: v.acknowledged,
  nvs_after: v.nvs_after,
  poll_us_after: v.poll_us_after,
  upload_us_after: v.upload_us_after,
  registers_after_reboot: v.registers_after_reboot,
});
const ackOf = (v: ConfigVector) => {
  const post = v.requests.find((r) => r.url.endsWith('/acknowledge'));
  return post ? JSON.parse(post.body) : null;
};

/** What the emulated device reports at boot (its NVS selects 6 registers). */
const BOOT_REGISTERS = parseRunningConfig13(currentConfigBody(freshNvs())).values.registers as ConfigValue;

/**
 * The server's pure path from an operator's change to the answer a 1.3 device gets: validated as
 * `config set` validates it, then each key's state and the offer, with what the device reported.
 */
function respondTo(
  intent: Record<string, unknown>,
  reports: Partial<Record<string, ConfigReport>> = {},
  deliveries: Partial<Record<string, Delivery>> = {},
): { errors: FieldErrors } | { answer: Config13Answer; keys: KeyStatus[] } {
  const { patch, errors } = parseConfigPatch(intent);
  if (Object.keys(errors).length > 0) return { errors };
  const desired = applyPatch({}, patch);
  const cross = checkConfig(desired, Object.keys(patch));
  if (Object.keys(cross).length > 0) return { errors: cross };
  const keys = CONFIG_KEYS.filter((k) => desired[k] !== undefined).map((key) =>
    deriveKeyStatus13(
      { key, desired: desired[key] as never, source: 'device', version: 1, delivery: deliveries[key] },
      reports[key],
    ),
  );
  // The device reported its running configuration at boot (the vectors' NVS: 6 registers).
  const running: Record<string, { value: ConfigValue }> = { registers: { value: BOOT_REGISTERS } };
  for (const [k, r] of Object.entries(reports)) if (r?.outcome === 'running') running[k] = { value: r.value };
  return { answer: buildConfig13Answer(buildOffer13(keys, running).offer), keys };
}

function answer(intent: Record<string, unknown>, reports?: Partial<Record<string, ConfigReport>>) {
  const r = respondTo(intent, reports);
  if ('errors' in r) throw new Error(`unexpectedly refused: ${JSON.stringify(r.errors)}`);
  return r;
}

const device = (a: unknown, code = 200) => emulateConfigPoll(code, JSON.stringify(a));

describe('the 1.3 device emulation', () => {
  it.each(vectors.map((v) => [v.id, v] as const))('reproduces vector %s', (_id, v) => {
    const effect = emulateConfigPoll(v.answer_code, v.answer_body);
    expect({ ...effect, ack: undefined }).toEqual({ ...effectOf(v), ack: undefined });
    expect(effect.ack).toEqual(ackOf(v));
  });
});

describe('server answers, judged by the emulated 1.3 device', () => {
  it('config-not-pending: nothing pending is the idle answer, and the device changes nothing', () => {
    const { answer: a } = answer({});
    expect(a).toEqual(CONFIG13_IDLE);
    expect(JSON.stringify(a)).toBe('{"is_pending":false}');
    expect(device(a)).toEqual({ ...effectOf(vector('config-not-pending')), ack: null });
  });

  it('config-pending-intervals: the five intervals in the exact pending shape are applied and acknowledged', () => {
    const intent = {
      sampling_interval: 2,
      upload_interval: 30,
      config_poll_interval: 7,
      command_poll_interval: 12,
      firmware_check_interval: 120,
    };
    const { answer: a } = answer(intent);
    expect(a).toEqual({ is_pending: true, pending_config: { config_update: intent } });
    const v = vector('config-pending-intervals');
    expect(device(a)).toEqual({ ...effectOf(v), ack: ackOf(v) });
  });

  it('config-pending-same-as-current: a change equal to what the device reported is cleared, not offered', () => {
    const running = parseRunningConfig13(currentConfigBody(freshNvs()));
    const reports = Object.fromEntries(
      Object.entries(running.values).map(([k, value]) => [
        k,
        { value, outcome: 'running', basis: 'reported at boot', at: 1 } as ConfigReport,
      ]),
    );
    const { answer: a, keys } = answer({ sampling_interval: 5, upload_interval: 15 }, reports);
    expect(keys.map((k) => [k.key, k.state, k.offer])).toEqual([
      ['sampling_interval', 'applied', false],
      ['upload_interval', 'applied', false],
    ]);
    expect(a).toEqual(CONFIG13_IDLE);
    // Offered anyway (nothing known yet), the device does what the vector shows: nothing, no ack.
    const blind = answer({ sampling_interval: 5, upload_interval: 15 }).answer;
    const v = vector('config-pending-same-as-current');
    expect(device(blind)).toEqual({ ...effectOf(v), ack: null });
    // So after a few answers without an acknowledgement, the server takes it as running.
    const delivery = (value: number): Delivery => ({
      value,
      version: 1,
      firstAt: 10,
      lastAt: 30,
      offers: UNACKNOWLEDGED_AFTER_OFFERS,
    });
    const later = respondTo(
      { sampling_interval: 5, upload_interval: 15 },
      {},
      {
        sampling_interval: delivery(5),
        upload_interval: delivery(15),
      },
    ) as { answer: Config13Answer; keys: KeyStatus[] };
    expect(later.keys.map((k) => [k.state, k.running?.basis])).toEqual([
      ['applied', 'unacknowledged'],
      ['applied', 'unacknowledged'],
    ]);
    expect(later.answer).toEqual(CONFIG13_IDLE);
  });

  it('config-registers-names: a selection reaches the device as names it matches; unknown names are refused when set', () => {
    expect(respondTo({ registers: ['Vac1', 'Iac1', 'Pac', 'Bogus'] })).toEqual({
      errors: { registers: 'unknown register "Bogus"' },
    });
    const { answer: a } = answer({ registers: ['Vac1', 'Iac1', 'Pac'] });
    const v = vector('config-registers-names');
    expect(device(a)).toEqual({ ...effectOf(v), ack: ackOf(v) });
  });

  it('config-registers-all-unknown: other spellings are normalised, so the device never skips a name', () => {
    expect('errors' in respondTo({ registers: ['REG_VAC1', 'x'] })).toBe(true);
    const { answer: a } = answer({ registers: ['REG_VAC1', 'IAC1'] });
    expect(a).toEqual({
      is_pending: true,
      pending_config: { config_update: { registers: ['Vac1', 'Iac1'] } },
    });
    const effect = device(a);
    expect(effect.acknowledged).toBe(true);
    expect(effect.registers_after_reboot).toEqual([0, 1]);
    expect(vector('config-registers-all-unknown').acknowledged).toBe(false);
  });

  it('config-old-format: the server always sends config_update, with the same effect on the device', () => {
    // The device runs 5 s sampling; the same value travels along so the pair passes the upload rule.
    const { answer: a } = answer({ sampling_interval: 5, upload_interval: 60 });
    expect(a).toEqual({
      is_pending: true,
      pending_config: { config_update: { sampling_interval: 5, upload_interval: 60 } },
    });
    const v = vector('config-old-format');
    expect(device(a)).toEqual({ ...effectOf(v), ack: ackOf(v) });
  });

  it('config-string-number: only numbers are accepted and sent; 30 has the vector’s effect', () => {
    expect(respondTo({ upload_interval: '30' })).toMatchObject({
      errors: { upload_interval: expect.any(String) },
    });
    const { answer: a } = answer({ sampling_interval: 5, upload_interval: 30 });
    expect(
      (a as { pending_config: { config_update: Record<string, unknown> } }).pending_config.config_update,
    ).toEqual({ sampling_interval: 5, upload_interval: 30 });
    const v = vector('config-string-number');
    expect(device(a)).toEqual({ ...effectOf(v), ack: ackOf(v) });
  });

  it('config-negative: no interval out of range is stored, and none leaves the server if one were stored', () => {
    for (const bad of [-1, 0, 0.5, 86_401, 4_294_967]) {
      expect('errors' in respondTo({ upload_interval: bad }), String(bad)).toBe(true);
    }
    expect('errors' in respondTo({ energy_poll_interval: 30 })).toBe(true);
    // Values that reached storage some other way are checked again right before an answer.
    for (const offer of [
      { upload_interval: 0 },
      { upload_interval: -1 },
      { sampling_interval: 0 },
      { upload_interval: 5 }, // below the 1.3 firmware's 10 s
      { command_poll_interval: 1 }, // below its 5 s
      { config_poll_interval: 600 }, // above its 300 s
      { registers: [] },
      { registers: ['Bogus'] },
    ]) {
      expect(buildConfig13Answer(offer as never), JSON.stringify(offer)).toEqual(CONFIG13_IDLE);
      expect(Object.keys(checkOffer13(offer as never).refused), JSON.stringify(offer)).toEqual(
        Object.keys(offer),
      );
    }
    const mixed = buildConfig13Answer({ sampling_interval: 0, upload_interval: 30 });
    expect(mixed).toEqual({ is_pending: true, pending_config: { config_update: { upload_interval: 30 } } });
    expect(device(mixed).upload_us_after).toBe(30_000_000);
  });

  it('config-http-500 / config-http-404-html: the server’s error answers never look pending', () => {
    for (const [code, error] of [
      [500, 'internal_error'],
      [404, 'not_found'],
      [403, 'control_source_mismatch'],
    ] as const) {
      const effect = device({ error, message: 'x', request_id: 'req-1' }, code);
      expect(effect).toEqual({ ...effectOf(vector('config-not-pending')), ack: null });
    }
    expect(vector('config-http-500').acknowledged).toBe(true);
  });

  it('config-unsigned-accepted: 1 s sampling with a 3600 s upload is refused before anything is stored', () => {
    const r = respondTo({ sampling_interval: 1, upload_interval: 3600 });
    expect(r).toMatchObject({ errors: { upload_interval: expect.stringMatching(/overflows|at most/) } });
  });

  it('power management travels as {"enabled"}; the device keeps its techniques', () => {
    const { answer: a } = answer({ power_management: true });
    expect(a).toEqual({
      is_pending: true,
      pending_config: { config_update: { power_management: { enabled: true } } },
    });
    const effect = device(a);
    expect(effect.nvs_after.power).toEqual({ ...freshNvs().power, enabled: '01' });
    expect(effect.ack?.power_management).toEqual({
      enabled: true,
      techniques: 8,
      energy_poll_freq: 300_000_000,
    });
  });
});

describe('documents the 1.3 device posts', () => {
  it('reads every acknowledgement of the vectors', () => {
    for (const v of vectors.filter((x) => x.acknowledged)) {
      expect(parseAcknowledgement13(ackOf(v)), v.id).toEqual({
        status: 'applied',
        deviceTime: 1_765_000_000,
        message: 'Configuration updated successfully',
        powerManagement: { enabled: false, techniques: 8 },
      });
    }
  });

  it('refuses an acknowledgement without a usable status, naming the fields', () => {
    const bad = () =>
      parseAcknowledgement13({ status: 'done', timestamp: -1, power_management: { enabled: 1 } });
    expect(bad).toThrow(ApiError);
    try {
      bad();
    } catch (err) {
      expect((err as ApiError).code).toBe('malformed_payload');
      expect(Object.keys((err as ApiError).details?.fields as object).sort()).toEqual([
        'power_management',
        'status',
        'timestamp',
      ]);
    }
  });

  it('reads the running configuration sent at boot, with out-of-range values as they are', () => {
    const nvs = emulateConfigPoll(200, vector('config-registers-names').answer_body).nvs_after;
    expect(parseRunningConfig13(currentConfigBody(nvs))).toEqual({
      values: {
        sampling_interval: 5,
        upload_interval: 15,
        config_poll_interval: 5,
        command_poll_interval: 10,
        firmware_check_interval: 6000,
        energy_poll_interval: 300,
        power_management: false,
        registers: ['Vac1', 'Iac1', 'Pac'],
      },
      techniques: 8,
      unknownRegisters: [],
    });
    expect(parseRunningConfig13({ upload_interval: 0, registers: ['Pac', 'Vac1', 'Nope'] })).toEqual({
      values: { upload_interval: 0, registers: ['Vac1', 'Pac'] },
      techniques: null,
      unknownRegisters: ['Nope'],
    });
    expect(() => parseRunningConfig13({ upload_interval: '15' })).toThrow(/upload_interval/);
    expect(() => parseRunningConfig13({ timestamp: 1 })).toThrow(/Empty running configuration/);
  });
});

describe('a 1.3 device through the configuration service', () => {
  let storage: SqliteStorage;
  let config: ConfigService;
  let now = 1_000_000;

  beforeEach(async () => {
    storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
    config = new ConfigService(
      new SqlConfigStore(storage.sql, storage.writer.writes.config),
      storage,
      () => now,
    );
    await storage.createDevice(
      {
        id: 'esp-13',
        status: 'active',
        policy: { allowUnsecured: false, requireEncryption: false, replay: { kind: 'strict' } },
        keys: [],
        replay: armedAt(10_000),
        createdAt: 1,
      },
      { time: 1, actor: 'test', action: 'device.added', deviceId: 'esp-13', reason: null },
    );
  });
  afterEach(async () => {
    await storage.close();
  });

  const tick = () => {
    now += 5000;
  };
  const state = async () => {
    const s = await config.status('esp-13');
    return Object.fromEntries(s.keys.map((k) => [k.key, k.state]));
  };

  it('offers a change until acknowledged, then reports it applied; a failed one is not offered again', async () => {
    await config.reportCurrent13('esp-13', currentConfigBody(freshNvs()));
    expect((await config.status('esp-13')).generation).toBe('1.3');
    await config.change(
      'esp-13',
      { upload_interval: 30, config_poll_interval: 7 },
      { actor: 't', reason: null },
    );
    expect(await state()).toEqual({ upload_interval: 'pending', config_poll_interval: 'pending' });
    tick();
    const first = await config.answerConfig13('esp-13');
    expect(first).toEqual({
      is_pending: true,
      pending_config: { config_update: { upload_interval: 30, config_poll_interval: 7 } },
    });
    expect(await state()).toEqual({ upload_interval: 'delivered', config_poll_interval: 'delivered' });
    // The device applies it and says so.
    const effect = emulateConfigPoll(200, JSON.stringify(first));
    tick();
    const acked = await config.acknowledge13('esp-13', effect.ack as Record<string, unknown>);
    expect(acked).toEqual({ status: 'applied', keys: ['upload_interval', 'config_poll_interval'] });
    const s = await config.status('esp-13');
    expect(s.state).toBe('applied');
    expect(s.running.upload_interval).toMatchObject({ value: 30, basis: 'acknowledged' });
    expect(s.running.sampling_interval).toMatchObject({ value: 5, basis: 'reported at boot' });
    tick();
    expect(await config.answerConfig13('esp-13')).toEqual(CONFIG13_IDLE);

    await config.change('esp-13', { registers: ['Pac', 'Vac1'] }, { actor: 't', reason: null });
    tick();
    await config.answerConfig13('esp-13');
    tick();
    await config.acknowledge13('esp-13', { status: 'failed', error_msg: 'NVS full' });
    const failed = (await config.status('esp-13')).keys.find((k) => k.key === 'registers');
    expect(failed).toMatchObject({ state: 'failed', offer: false });
    tick();
    expect(await config.answerConfig13('esp-13')).toEqual(CONFIG13_IDLE);
  });

  it('clears a pending change equal to what the device runs, known from boot or from silence', async () => {
    await config.change(
      'esp-13',
      { sampling_interval: 5, upload_interval: 15 },
      { actor: 't', reason: null },
    );
    await config.reportCurrent13('esp-13', currentConfigBody(freshNvs()));
    expect(await state()).toEqual({ sampling_interval: 'applied', upload_interval: 'applied' });
    expect(await config.answerConfig13('esp-13')).toEqual(CONFIG13_IDLE);

    // Without a boot report: offered, the device says nothing, and after a few answers it is taken as running.
    await config.change('esp-13', { energy_poll_interval: 600 }, { actor: 't', reason: null });
    await storage.createDevice(
      {
        id: 'esp-quiet',
        status: 'active',
        policy: { allowUnsecured: false, requireEncryption: false, replay: { kind: 'strict' } },
        keys: [],
        replay: armedAt(10_000),
        createdAt: 1,
      },
      { time: 1, actor: 'test', action: 'device.added', deviceId: 'esp-quiet', reason: null },
    );
    await config.change('esp-quiet', { energy_poll_interval: 300 }, { actor: 't', reason: null });
    for (let i = 0; i < UNACKNOWLEDGED_AFTER_OFFERS; i++) {
      tick();
      const a = await config.answerConfig13('esp-quiet');
      expect(a, `answer ${i + 1}`).toEqual({
        is_pending: true,
        pending_config: { config_update: { energy_poll_interval: 300 } },
      });
      expect(emulateConfigPoll(200, JSON.stringify(a)).acknowledged).toBe(false);
    }
    tick();
    expect(await config.answerConfig13('esp-quiet')).toEqual(CONFIG13_IDLE);
  });

  it('refuses an acknowledgement when nothing was offered, and an unknown device', async () => {
    await expect(config.acknowledge13('esp-13', { status: 'applied' })).rejects.toMatchObject({
      code: 'conflict',
    });
    await expect(config.answerConfig13('nobody')).rejects.toMatchObject({ code: 'not_found' });
    await expect(config.reportCurrent13('nobody', { upload_interval: 15 })).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});
