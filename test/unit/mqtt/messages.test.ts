import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  discoveryMessages,
  eventMessage,
  FIELD_DATA_TOPIC,
  fieldDataMessage,
  haNodeId,
  mergeRegisters,
  readingsMessage,
  readingView,
  stateMessage,
  type TopicConfig,
  topicSafeId,
} from '../../../src/mqtt/messages.js';
import type { UploadBlocks } from '../../../src/ports/outbox.js';
import type { Quality } from '../../../src/protocol/codecs/types.js';
import { BATCH_LAYOUT } from '../../../src/protocol/registers.js';
import { fixture } from '../../helpers/uploads.js';

const cfg: TopicConfig = { prefix: 'ecowatt', haPrefix: 'homeassistant', instance: 'abcd1234' };
const T0 = Date.UTC(2026, 5, 21, 12, 0, 0);

const oneBatch = fixture<{ id: string; polls_register_values_by_address?: number[][] }[]>('e2e.json').find(
  (v) => v.id === 'e2e-one-batch',
)!;
const polls = oneBatch.polls_register_values_by_address!;

/** The vector's five polls as the server stores them: one batch block in the fixed layout. */
function uploadFromPolls(
  rows: number[][],
  edit?: (values: (number | null)[], quality: Quality[]) => void,
): UploadBlocks {
  const values: (number | null)[] = rows.flatMap((poll) => BATCH_LAYOUT.map((reg) => poll[reg]));
  const quality: Quality[] = values.map(() => 'exact');
  edit?.(values, quality);
  return {
    uploadId: '7',
    deviceId: 'ESP32_EcoWatt_Smart',
    receivedAt: T0 + 10_000,
    nonce: 10001,
    packets: [
      {
        index: 0,
        method: 'dictionary',
        block: { time: T0, step: 2000, samples: rows.length, layout: BATCH_LAYOUT, values, quality },
      },
    ],
  };
}

describe('topic-safe device ids', () => {
  it('keeps registry-valid ids as they are', () => {
    for (const id of ['ESP32_EcoWatt_Smart', 'sim-0001', 'site.a:inv-2', 'A~b'])
      expect(topicSafeId(id)).toBe(id);
  });

  it('percent-encodes wildcards, separators and everything else, reversibly', () => {
    expect(topicSafeId('a/b')).toBe('a%2Fb');
    expect(topicSafeId('a+b#c')).toBe('a%2Bb%23c');
    expect(topicSafeId('50%')).toBe('50%25');
    expect(topicSafeId('x y\u0000')).toBe('x%20y%00');
    expect(topicSafeId('tëst')).toBe('t%C3%ABst');
    for (const id of ['a/b', 'a+b#c', '50%', 'tëst', '$SYS', 'a%2Fb']) {
      const safe = topicSafeId(id);
      expect(safe).not.toMatch(/[+#/]/);
      expect(decodeURIComponent(safe)).toBe(id);
    }
    // Two ids never share a topic, even when one looks like the other's encoding.
    expect(topicSafeId('a/b')).not.toBe(topicSafeId('a%2Fb'));
  });

  it('makes Home Assistant node ids from [A-Za-z0-9_-] only, unique per device', () => {
    expect(haNodeId('ecowatt', 'ESP32_EcoWatt_Smart')).toBe('ecowatt_ESP32_EcoWatt_Smart');
    const a = haNodeId('ecowatt', 'site.a:1');
    const b = haNodeId('ecowatt', 'site_a_1');
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
  });

  it('uses the safe id in every device topic', () => {
    const u = { ...uploadFromPolls(polls), deviceId: 'odd/id+#' };
    const m = readingsMessage(cfg, 1, u)!;
    expect(m.topic).toBe('ecowatt/odd%2Fid%2B%23/readings');
    expect(JSON.parse(m.payload).device_id).toBe('odd/id+#');
  });
});

describe('esp32/ecowatt_data (field dashboards)', () => {
  it('has the §7 keys with correctly scaled values from the newest sample of the e2e vector', () => {
    const m = fieldDataMessage(cfg, 42, uploadFromPolls(polls))!;
    expect(m.topic).toBe(FIELD_DATA_TOPIC);
    expect(m.retain).toBe(false);
    const last = polls[polls.length - 1];
    const body = JSON.parse(m.payload);
    expect(body.register_data).toEqual({
      REG_VAC1: last[0],
      ac_voltage_readable: `${(last[0] / 10).toFixed(1)}V`,
      REG_IAC1: last[1],
      ac_current_readable: `${(last[1] / 10).toFixed(2)}A`,
      REG_IPV1: last[5],
      pv_current_1_readable: `${(last[5] / 10).toFixed(2)}A`,
      REG_PAC: last[9],
      ac_power_readable: `${last[9]}W`,
      REG_IPV2: last[6],
      pv_current_2_readable: `${(last[6] / 10).toFixed(2)}A`,
      REG_TEMP: last[7],
      temperature_readable: `${(last[7] / 10).toFixed(1)}°C`,
    });
    // The vector's values, spelled out: ÷10 for Vac/Iac/Ipv/Temp, Pac as is.
    expect(body.register_data.ac_voltage_readable).toBe('243.3V');
    expect(body.register_data.ac_current_readable).toBe('17.30A');
    expect(body.register_data.ac_power_readable).toBe('4343W');
    expect(body.register_data.temperature_readable).toBe('60.1°C');
    expect(body).toMatchObject({ device_id: 'ESP32_EcoWatt_Smart', message_id: 'abcd1234-42-data' });
    expect(body.time).toBe(new Date(T0 + 4 * 2000).toISOString());
  });

  it('matches the first poll when only that one is uploaded (the §7 example shape)', () => {
    const body = JSON.parse(fieldDataMessage(cfg, 1, uploadFromPolls([polls[0]]))!.payload);
    expect(body.register_data.ac_voltage_readable).toBe('242.9V');
    expect(body.register_data.ac_current_readable).toBe('17.70A');
    expect(body.register_data.ac_power_readable).toBe('4331W');
    expect(body.register_data.temperature_readable).toBe('60.5°C');
  });

  it('leaves out a register that is missing everywhere rather than inventing a value', () => {
    const u = uploadFromPolls(polls, (values, quality) => {
      values.forEach((_, i) => {
        if (BATCH_LAYOUT[i % 6] === 7 || BATCH_LAYOUT[i % 6] === 6) {
          values[i] = null;
          quality[i] = 'missing';
        }
      });
    });
    const data = JSON.parse(fieldDataMessage(cfg, 1, u)!.payload).register_data;
    expect(Object.keys(data)).not.toContain('REG_TEMP');
    expect(Object.keys(data)).not.toContain('temperature_readable');
    expect(Object.keys(data)).not.toContain('REG_IPV2');
    expect(Object.keys(data)).not.toContain('pv_current_2_readable');
    expect(data.REG_VAC1).toBe(polls[4][0]);
  });

  it('takes an older sample of the upload when the newest is missing', () => {
    const u = uploadFromPolls(polls, (values, quality) => {
      values[4 * 6] = null; // Vac1 of the last sample
      quality[4 * 6] = 'missing';
    });
    const data = JSON.parse(fieldDataMessage(cfg, 1, u)!.payload).register_data;
    expect(data.REG_VAC1).toBe(polls[3][0]);
    expect(data.ac_voltage_readable).toBe('243.2V');
  });

  it('publishes nothing for an upload without any value', () => {
    const u = uploadFromPolls(polls, (values, quality) => {
      values.fill(null);
      quality.fill('missing');
    });
    expect(fieldDataMessage(cfg, 1, u)).toBeNull();
    expect(fieldDataMessage(cfg, 1, { ...u, packets: [] })).toBeNull();
  });
});

describe('readings, state and events', () => {
  it('carries every stored sample with time, raw, scaled value, unit and quality', () => {
    const u = uploadFromPolls(polls, (values, quality) => {
      values[7] = null;
      quality[7] = 'missing';
      quality[8] = 'approximate';
    });
    const m = readingsMessage(cfg, 9, u)!;
    expect(m.topic).toBe('ecowatt/ESP32_EcoWatt_Smart/readings');
    expect(m.retain).toBe(false);
    const body = JSON.parse(m.payload);
    expect(body).toMatchObject({ message_id: 'abcd1234-9-readings', upload_id: '7', nonce: 10001 });
    expect(body.samples).toHaveLength(5);
    expect(body.samples[1].time).toBe(new Date(T0 + 2000).toISOString());
    expect(body.samples[0].readings[0]).toEqual({
      register: 'Vac1',
      reg_id: 0,
      raw: 2429,
      value: 242.9,
      unit: 'V',
      quality: 'exact',
    });
    expect(body.samples[1].readings[1]).toMatchObject({
      register: 'Iac1',
      raw: null,
      value: null,
      quality: 'missing',
    });
    expect(body.samples[1].readings[2]).toMatchObject({ register: 'Ipv1', quality: 'approximate' });
    expect(body.samples.flatMap((s: { readings: unknown[] }) => s.readings)).toHaveLength(30);
  });

  it('keeps the newest value of each register in the retained state', () => {
    const first = mergeRegisters({}, uploadFromPolls(polls));
    expect(first.Vac1).toMatchObject({ raw: 2433, value: 243.3, unit: 'V', reg_id: 0 });
    // An upload whose samples are older does not move the state back.
    const older = uploadFromPolls([[1000, 1, 1, 1, 1, 1, 1, 1, 1, 1]]);
    older.packets[0].block = { ...older.packets[0].block, time: T0 - 60_000 };
    expect(mergeRegisters(first, older).Vac1.raw).toBe(2433);
    const m = stateMessage(cfg, 3, {
      deviceId: 'ESP32_EcoWatt_Smart',
      status: 'active',
      lastSeen: T0,
      lastUpload: '7',
      registers: first,
    });
    expect(m.retain).toBe(true);
    expect(m.topic).toBe('ecowatt/ESP32_EcoWatt_Smart/state');
    expect(JSON.parse(m.payload)).toMatchObject({ message_id: 'abcd1234-3-state', status: 'active' });
  });

  it('passes a stored event on in snake case with its own message id', () => {
    const stored = JSON.stringify({
      id: 5,
      time: '2026-06-21T12:00:00.000Z',
      deviceId: 'dev-1',
      code: 'packet_quarantined',
      reason: 'truncated',
      source: '10.0.0.1',
      nonce: 10002,
      requestId: 'r-1',
    });
    const m = eventMessage(cfg, 11, 'dev-1', stored);
    expect(m.topic).toBe('ecowatt/dev-1/events');
    expect(JSON.parse(m.payload)).toEqual({
      message_id: 'abcd1234-11-event',
      device_id: 'dev-1',
      id: 5,
      time: '2026-06-21T12:00:00.000Z',
      code: 'packet_quarantined',
      reason: 'truncated',
      source: '10.0.0.1',
      nonce: 10002,
      request_id: 'r-1',
    });
    expect(JSON.parse(eventMessage(cfg, 12, 'dev-1', 'not json').payload).raw).toBe('not json');
  });
});

describe('Home Assistant discovery', () => {
  it('announces one retained sensor per register, reading from the state topic', () => {
    const msgs = discoveryMessages(cfg, 4, 'ESP32_EcoWatt_Smart', [0, 7, 9, 8]);
    expect(msgs.map((m) => m.topic)).toEqual([
      'homeassistant/sensor/ecowatt_ESP32_EcoWatt_Smart/vac1/config',
      'homeassistant/sensor/ecowatt_ESP32_EcoWatt_Smart/temp/config',
      'homeassistant/sensor/ecowatt_ESP32_EcoWatt_Smart/pac/config',
      'homeassistant/sensor/ecowatt_ESP32_EcoWatt_Smart/pow/config',
    ]);
    expect(msgs.every((m) => m.retain)).toBe(true);
    const vac = JSON.parse(msgs[0].payload);
    expect(vac).toMatchObject({
      device_class: 'voltage',
      unit_of_measurement: 'V',
      state_topic: 'ecowatt/ESP32_EcoWatt_Smart/state',
      value_template: '{{ value_json.registers.Vac1.value }}',
      unique_id: 'ecowatt_ESP32_EcoWatt_Smart_vac1',
      state_class: 'measurement',
    });
    expect(JSON.parse(msgs[1].payload)).toMatchObject({
      device_class: 'temperature',
      unit_of_measurement: '°C',
    });
    // The export limit (%) is not a power factor: no device class rather than a wrong one.
    expect(JSON.parse(msgs[3].payload).device_class).toBeUndefined();
  });

  it('announces nothing when discovery is off', () => {
    expect(discoveryMessages({ ...cfg, haPrefix: null }, 1, 'd', [0])).toEqual([]);
  });
});

describe('readings payload written as text', () => {
  /** What the payload has always been: an object per sample and reading, stringified. */
  function asObjects(u: UploadBlocks): unknown {
    const samples = [...u.packets]
      .sort((a, b) => a.index - b.index)
      .flatMap((p) => {
        const b = p.block;
        const width = b.layout.length;
        const count = width === 0 ? 0 : Math.min(b.samples, Math.floor(b.values.length / width));
        return Array.from({ length: count }, (_, s) => ({
          time: new Date(b.time + s * b.step).toISOString(),
          packet: p.index,
          sample: s,
          readings: b.layout.map((reg, j) => {
            const raw = b.values[s * width + j] ?? null;
            return readingView(reg, raw, raw === null ? 'missing' : b.quality[s * width + j]);
          }),
        }));
      });
    return samples.length === 0
      ? null
      : {
          message_id: `${cfg.instance}-5-readings`,
          device_id: u.deviceId,
          upload_id: u.uploadId,
          nonce: u.nonce,
          received_at: new Date(u.receivedAt).toISOString(),
          samples,
        };
  }

  const quality = fc.constantFrom<Quality>('exact', 'approximate', 'ambiguous', 'missing');
  const block = fc
    .record({
      // Known registers and ids the register map does not know.
      layout: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 70000 })), {
        maxLength: 8,
      }),
      samples: fc.integer({ min: 0, max: 6 }),
      time: fc.integer({ min: 0, max: 4102444800000 }),
      step: fc.integer({ min: 0, max: 3_600_000 }),
      extra: fc.integer({ min: -3, max: 3 }),
    })
    .chain((b) => {
      const n = Math.max(0, b.layout.length * b.samples + b.extra);
      return fc
        .record({
          values: fc.array(fc.option(fc.integer({ min: 0, max: 65535 }), { nil: null }), {
            minLength: n,
            maxLength: n,
          }),
          quality: fc.array(quality, { minLength: n, maxLength: n }),
        })
        .map((v) => ({ time: b.time, step: b.step, samples: b.samples, layout: b.layout, ...v }));
    });

  it('is byte for byte the stringified objects, for any stored blocks and device id', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: null }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), block), { maxLength: 4 }),
        (deviceId, nonce, blocks) => {
          const u: UploadBlocks = {
            uploadId: '12',
            deviceId,
            receivedAt: T0,
            nonce,
            packets: blocks.map(([index, b]) => ({ index, method: 'dictionary', block: b })),
          };
          const expected = asObjects(u);
          const m = readingsMessage(cfg, 5, u);
          if (expected === null) expect(m).toBeNull();
          else expect(m?.payload).toBe(JSON.stringify(expected));
        },
      ),
      { numRuns: 300 },
    );
  });
});
