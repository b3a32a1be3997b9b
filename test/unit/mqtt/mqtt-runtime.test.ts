/**
 * The one MQTT runtime on ports a test hands it (an in-memory outbox and device directory), with
 * its embedded broker observed by a real MQTT.js client: what either host runs.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttRuntimeSettings } from '../../../src/mqtt/mqtt-plan.js';
import { MqttRuntime } from '../../../src/mqtt/mqtt-runtime.js';
import type { ParsedFieldSettings } from '../../../src/mqtt/settings-topic.js';
import type { Outbox, OutboxRecord, UploadBlocks } from '../../../src/ports/outbox.js';
import { loadSettings } from '../../../src/settings/load-settings.js';
import { eventually } from '../../helpers/eventually.js';
import { tempDataDir } from '../../helpers/server-process.js';

const log = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 5, 21, 12, 0, 0);

const records: OutboxRecord[] = [];
const published: number[] = [];
const blocks = new Map<string, UploadBlocks>();
const outbox: Outbox = {
  pendingOutbox: async (limit, afterId = 0) => records.filter((r) => r.id > afterId).slice(0, limit),
  markPublished: async (ids) => {
    published.push(...ids);
    for (const id of ids)
      records.splice(
        records.findIndex((r) => r.id === id),
        1,
      );
  },
  outboxStats: async () => ({ depth: records.length, oldestCreatedAt: records[0]?.createdAt ?? null }),
  uploadBlocks: async (id) => blocks.get(id),
};
const applied: { target: string | null; settings: ParsedFieldSettings }[] = [];
/** What the store profile hands the runtime (adapters/open-stores.ts). */
const runtimeSettings = (env: NodeJS.ProcessEnv): MqttRuntimeSettings => {
  const { mqtt, storage } = loadSettings({ env });
  return { mqtt, dataDir: storage.dataDir, databaseUrl: storage.databaseUrl };
};
const settings = runtimeSettings({
  ECOWATT_DATA_DIR: tempDataDir(),
  ECOWATT_MQTT_PORT: '0',
  ECOWATT_MQTT_USERS: 'nodered:s3cret',
  ECOWATT_LOG_LEVEL: 'silent',
});

let runtime: MqttRuntime;
let client: MqttClient;
beforeAll(async () => {
  const started = await MqttRuntime.start(settings, {
    outbox,
    devices: { getDevice: async () => ({ status: 'active' }), latestReadings: async () => [] },
    sink: {
      applyFieldSettings: async (target, values) => {
        applied.push({ target, settings: values });
      },
    },
    log,
  });
  if (!started) throw new Error('MQTT is on by default');
  runtime = started;
  client = await connectAsync(runtime.ready().url, {
    reconnectPeriod: 0,
    username: 'nodered',
    password: 's3cret',
  });
});
afterAll(async () => {
  await client?.endAsync(true);
  await runtime?.close();
});

describe('MQTT runtime', () => {
  it('is off when the settings turn MQTT off', async () => {
    const off = runtimeSettings({ ECOWATT_DATA_DIR: tempDataDir(), ECOWATT_MQTT_EMBEDDED: 'false' });
    expect(
      await MqttRuntime.start(off, {
        outbox,
        devices: { getDevice: async () => undefined, latestReadings: async () => [] },
        sink: { applyFieldSettings: async () => undefined },
        log,
      }),
    ).toBeNull();
  });

  it('tells the operator where its broker listens and what it publishes', () => {
    const [broker, topics] = runtime.describe();
    expect(broker).toBe(`  MQTT broker (embedded): ${runtime.ready().url}`);
    expect(topics).toContain('ecowatt/<device>/{readings,state,events}');
    expect(runtime.ready().ok).toBe(true);
  });

  it('publishes an upload record, discovery before data, then marks it published', async () => {
    const topics: string[] = [];
    client.on('message', (topic) => topics.push(topic));
    await client.subscribeAsync(['homeassistant/#', 'ecowatt/rt-dev/#'], { qos: 1 });
    blocks.set('41', {
      uploadId: '41',
      deviceId: 'rt-dev',
      receivedAt: T0 + 5000,
      nonce: 10001,
      packets: [
        {
          index: 0,
          method: 'raw',
          block: { time: T0, step: 2000, samples: 1, layout: [0], values: [2300], quality: ['exact'] },
        },
      ],
    });
    records.push({ id: 1, deviceId: 'rt-dev', kind: 'upload', refId: '41', payload: null, createdAt: T0 });
    runtime.notify();
    await eventually(async () => expect(published).toEqual([1]));
    await eventually(async () => expect(topics).toContain('ecowatt/rt-dev/state'));
    const firstData = topics.findIndex((t) => t.startsWith('ecowatt/'));
    expect(topics.slice(0, firstData).length).toBeGreaterThan(0);
    expect(topics.slice(0, firstData).every((t) => t.startsWith('homeassistant/'))).toBe(true);
    const status = await runtime.status();
    expect(status).toMatchObject({ mode: 'embedded', outbox: { depth: 0 }, relay: { published_records: 1 } });
  });

  it('hands settings published on the settings topic to its sink', async () => {
    await client.publishAsync(
      'esp32/ecowatt_settings',
      JSON.stringify({ device_id: 'rt-dev', Changed: true, pollFreqChanged: true, newPollTimer: 7 }),
      { qos: 1 },
    );
    await eventually(async () =>
      expect(applied).toEqual([
        { target: 'rt-dev', settings: expect.objectContaining({ pollIntervalSeconds: 7 }) },
      ]),
    );
  });
});
