/**
 * MQTT publication against the real server process and real brokers: the embedded one and a
 * private Mosquitto that the tests stop and start. Subscribers are plain MQTT.js clients; what they
 * receive is compared with what the readings API says is stored.
 */
import net from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { type AcknowledgedUpload, runSimulation, type SimulationSummary } from '../../src/sim/simulator.js';
import { eventually } from '../helpers/eventually.js';
import { PrivateMosquitto, runMosquittoTests } from '../helpers/mosquitto.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { fixture } from '../helpers/uploads.js';

interface ReadingView {
  register: string;
  reg_id: number;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: string;
}

/** The fields of our payloads the tests look at; anything else parses as `{}`. */
interface Payload {
  message_id?: string;
  device_id?: string;
  upload_id?: string;
  received_at?: string;
  status?: string;
  state_topic?: string;
  samples?: { time: string; packet: number; sample: number; readings: ReadingView[] }[];
  register_data?: Record<string, number | string>;
}

type ReadingsPayload = Required<
  Pick<Payload, 'message_id' | 'device_id' | 'upload_id' | 'received_at' | 'samples'>
>;

interface Received {
  topic: string;
  body: Payload;
  raw: string;
}

interface StatusBody {
  mqtt: { mode: string; link: { connected: boolean } };
  outbox: { depth: number; oldest_age_seconds: number | null } | null;
}

interface Subscriber {
  client: MqttClient;
  messages: Received[];
  close(): Promise<void>;
}

async function subscribe(
  url: string,
  topics: string[],
  opts: { clientId?: string } = {},
): Promise<Subscriber> {
  const messages: Received[] = [];
  const client = await connectAsync(url, {
    clientId: opts.clientId ?? `e2e-${Math.random().toString(16).slice(2, 10)}`,
    clean: opts.clientId === undefined,
    reconnectPeriod: 300,
    connectTimeout: 5000,
  });
  client.on('message', (topic, payload) => {
    const raw = payload.toString('utf8');
    let body: Payload = {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Payload;
    } catch {
      /* not ours: kept only as text */
    }
    messages.push({ topic, body, raw });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, messages, close: () => client.endAsync(true) };
}

interface ApiReading {
  time: string;
  reg_id: number;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: string;
  upload: string;
  packet: number;
  sample: number;
}

interface MqttReading {
  time: string;
  reg_id: number;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: string;
  packet: number;
  sample: number;
}

const byPosition = (a: MqttReading, b: MqttReading) =>
  a.packet - b.packet || a.sample - b.sample || a.reg_id - b.reg_id;

/** Readings messages of one device, first delivery of each message id, in arrival order. */
function readingsOf(messages: Received[], deviceId: string): ReadingsPayload[] {
  const seen = new Set<string>();
  const out: ReadingsPayload[] = [];
  for (const m of messages) {
    if (!m.topic.endsWith('/readings') || m.body.device_id !== deviceId) continue;
    const id = m.body.message_id as string;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(m.body as ReadingsPayload);
  }
  return out;
}

/** QoS 1 may deliver twice, but a repeat must be the same message under the same id. */
function expectDuplicatesOnlyAsRepeats(messages: Received[]): void {
  const byId = new Map<string, string>();
  for (const m of messages) {
    const id = m.body.message_id;
    if (!id) continue;
    const before = byId.get(id);
    if (before !== undefined) expect(m.raw, `duplicate ${id}`).toBe(before);
    byId.set(id, m.raw);
  }
}

/**
 * Every acknowledged upload was published once per message id, in each device's upload order,
 * with exactly the readings the API returns for it, and nothing else was published.
 */
async function expectPublishedAsStored(
  server: RunningServer,
  acknowledged: AcknowledgedUpload[],
  messages: Received[],
): Promise<void> {
  expectDuplicatesOnlyAsRepeats(messages);
  const devices = [...new Set(acknowledged.map((a) => a.deviceId))];
  for (const deviceId of devices) {
    const mine = acknowledged.filter((a) => a.deviceId === deviceId).map((a) => a.uploadId);
    const published = readingsOf(messages, deviceId);
    expect(
      published.map((p) => p.upload_id),
      `${deviceId}: uploads published in order`,
    ).toEqual(mine);
    const page = await server.admin('GET', `/api/devices/${deviceId}/readings?limit=10000`);
    expect(page.json.next).toBeNull();
    const stored = page.json.readings as ApiReading[];
    for (const p of published) {
      const fromMqtt: MqttReading[] = p.samples.flatMap((s) =>
        s.readings.map((r) => ({
          time: s.time,
          reg_id: r.reg_id,
          raw: r.raw,
          value: r.value,
          unit: r.unit,
          quality: r.quality,
          packet: s.packet,
          sample: s.sample,
        })),
      );
      const fromApi: MqttReading[] = stored
        .filter((r) => r.upload === p.upload_id)
        .map((r) => ({
          time: r.time,
          reg_id: r.reg_id,
          raw: r.raw,
          value: r.value,
          unit: r.unit,
          quality: r.quality,
          packet: r.packet,
          sample: r.sample,
        }));
      expect(fromApi.length, `upload ${p.upload_id} has stored readings`).toBeGreaterThan(0);
      expect(fromMqtt.sort(byPosition), `upload ${p.upload_id}`).toEqual(fromApi.sort(byPosition));
    }
  }
}

async function status(server: RunningServer): Promise<StatusBody> {
  return (await (await fetch(`${server.url}/status`)).json()) as StatusBody;
}

const oneBatch = fixture<
  { id: string; envelope_json: string; polls_register_values_by_address?: number[][] }[]
>('e2e.json').find((v) => v.id === 'e2e-one-batch')!;

describe('MQTT start-up', () => {
  it('stops with a message naming ECOWATT_MQTT_PORT when an explicitly set port is taken', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    try {
      const port = (holder.address() as net.AddressInfo).port;
      await expect(startServer({ env: { ECOWATT_MQTT_PORT: String(port) } })).rejects.toThrow(
        new RegExp(`ECOWATT_MQTT_PORT: port ${port} on 127.0.0.1 is already in use`),
      );
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it('runs without MQTT when the embedded broker is off and no broker URL is set', async () => {
    const server = await startServer({ env: { ECOWATT_MQTT_EMBEDDED: 'false' } });
    try {
      expect(server.output()).toContain('MQTT: off');
      expect(server.mqttUrl).toBeUndefined();
      const ready = await (await fetch(`${server.url}/ready`)).json();
      expect(ready).toEqual({ ready: true, checks: { database: { ok: true } } });
      expect(await status(server)).toMatchObject({ mqtt: { mode: 'disabled' }, outbox: null });
    } finally {
      await server.stop();
    }
  });
});

describe('MQTT with the embedded broker', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({
      env: { ECOWATT_MQTT_USERS: 'nodered:s3cret', ECOWATT_LOG_LEVEL: 'info' },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('prints the broker URL and reports the link in /ready and /status', async () => {
    expect(server.mqttUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const ready = await (await fetch(`${server.url}/ready`)).json();
    expect(ready).toMatchObject({ ready: true, checks: { mqtt: { ok: true, url: server.mqttUrl } } });
    const s = await status(server);
    expect(s.mqtt).toMatchObject({ mode: 'embedded', link: { connected: true } });
    expect(s.outbox).toMatchObject({ depth: expect.any(Number) });
  });

  it('publishes exactly the stored readings of a simulator run, in per-device order', async () => {
    const sub = await subscribe(server.mqttUrl!, ['ecowatt/#', 'esp32/ecowatt_data']);
    try {
      const summary = await runSimulation({
        url: server.url,
        devices: 3,
        intervalSeconds: 0.02,
        uploadsPerDevice: 6,
        encrypt: true,
        keepAcknowledged: true,
      });
      expect(summary.accepted).toBe(18);
      await eventually(async () => {
        for (const a of summary.acknowledged) {
          expect(readingsOf(sub.messages, a.deviceId).map((p) => p.upload_id)).toContain(a.uploadId);
        }
      }, 10_000);
      await expectPublishedAsStored(server, summary.acknowledged, sub.messages);
      // The retained state and the field topic follow the same uploads.
      const states = sub.messages.filter((m) => m.topic === 'ecowatt/sim-0001/state');
      expect(states.at(-1)?.body).toMatchObject({ device_id: 'sim-0001', status: 'active' });
      expect(
        sub.messages.some((m) => m.topic === 'esp32/ecowatt_data' && m.body.device_id === 'sim-0002'),
      ).toBe(true);
    } finally {
      await sub.close();
    }
  });

  it('gives field dashboards the §7 payload with correctly scaled values and no invented keys', async () => {
    const sub = await subscribe(server.mqttUrl!, ['esp32/ecowatt_data', 'homeassistant/#']);
    try {
      const res = await post(server.url, oneBatch.envelope_json);
      expect(res.status).toBe(200);
      const msg = await eventually(async () => {
        const m = sub.messages.find(
          (x) => x.topic === 'esp32/ecowatt_data' && x.body.device_id === 'ESP32_EcoWatt_Smart',
        );
        expect(m).toBeDefined();
        return m!;
      });
      // The newest of the vector's five polls, by register address.
      const p = oneBatch.polls_register_values_by_address!.at(-1)!;
      expect(msg.body.register_data).toEqual({
        REG_VAC1: p[0],
        ac_voltage_readable: `${(p[0] / 10).toFixed(1)}V`,
        REG_IAC1: p[1],
        ac_current_readable: `${(p[1] / 10).toFixed(2)}A`,
        REG_IPV1: p[5],
        pv_current_1_readable: `${(p[5] / 10).toFixed(2)}A`,
        REG_PAC: p[9],
        ac_power_readable: `${p[9]}W`,
        REG_IPV2: p[6],
        pv_current_2_readable: `${(p[6] / 10).toFixed(2)}A`,
        REG_TEMP: p[7],
        temperature_readable: `${(p[7] / 10).toFixed(1)}°C`,
      });
      expect(msg.body.register_data?.ac_voltage_readable).toBe('243.3V');
      expect(msg.body.message_id).toMatch(/^[0-9a-f]{8}-\d+-data$/);
      // Home Assistant discovers the device's sensors.
      const configs = await eventually(async () => {
        const c = sub.messages.filter((m) =>
          m.topic.startsWith('homeassistant/sensor/ecowatt_ESP32_EcoWatt_Smart/'),
        );
        // Retained configs may arrive twice (retained copy and live publish): count the sensors.
        expect(new Set(c.map((m) => m.topic)).size).toBe(1 + BATCH_LAYOUT.length);
        return c;
      });
      expect(configs.map((c) => c.body.state_topic)).toContain('ecowatt/ESP32_EcoWatt_Smart/state');
    } finally {
      await sub.close();
    }
  });

  it('refuses unauthenticated publishing on ecowatt/# and esp32/ecowatt_settings', async () => {
    const sub = await subscribe(server.mqttUrl!, ['#']);
    const settings = JSON.stringify({ Changed: true, pollFreqChanged: true, newPollTimer: 7, regs: [] });
    try {
      for (const topic of [
        'ecowatt/ESP32_EcoWatt_Smart/readings',
        'esp32/ecowatt_data',
        'esp32/ecowatt_settings',
      ]) {
        const anon = await connectAsync(server.mqttUrl!, { reconnectPeriod: 0 });
        const closed = new Promise<void>((resolve) => anon.once('close', () => resolve()));
        anon.publish(topic, settings, { qos: 0 });
        await closed;
        await anon.endAsync(true);
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(sub.messages.filter((m) => m.raw === settings)).toEqual([]);
      expect(server.output()).not.toContain('settings message accepted');

      // A configured user may change settings: the server takes the parsed message.
      const user = await connectAsync(server.mqttUrl!, {
        username: 'nodered',
        password: 's3cret',
        reconnectPeriod: 0,
      });
      await user.publishAsync('esp32/ecowatt_settings', settings, { qos: 1 });
      await user.endAsync();
      await eventually(async () => expect(server.output()).toContain('settings message accepted'));
      expect(server.output()).toMatch(/"pollIntervalSeconds":7/);
    } finally {
      await sub.close();
    }
  });
});

describe.skipIf(!runMosquittoTests())('MQTT with a private Mosquitto', () => {
  it('delivers every reading stored while the broker was down for 10 s, none missing', async () => {
    const broker = await PrivateMosquitto.start();
    let server: RunningServer | undefined;
    let sub: Subscriber | undefined;
    try {
      // A persistent subscriber, like a dashboard: its session survives the broker restart.
      sub = await subscribe(broker.url, ['ecowatt/#', 'esp32/ecowatt_data'], {
        clientId: 'e2e-outage-dashboard',
      });
      server = await startServer({ env: { ECOWATT_MQTT_URL: broker.url } });
      expect(server.mqttUrl).toBe(broker.url);
      const running = server;
      const run = runSimulation({
        url: running.url,
        devices: 3,
        intervalSeconds: 0.25,
        durationSeconds: 14,
        encrypt: false,
        keepAcknowledged: true,
      });
      await new Promise((r) => setTimeout(r, 2000));
      await broker.stop();
      const down = Date.now();
      await eventually(async () => {
        const ready = await fetch(`${running.url}/ready`);
        expect(ready.status).toBe(503);
        const body = (await ready.json()) as { checks: { mqtt: { ok: boolean } } };
        expect(body.checks.mqtt.ok).toBe(false);
      });
      await eventually(async () => expect((await status(running)).outbox?.depth).toBeGreaterThan(3), 8000);
      await new Promise((r) => setTimeout(r, Math.max(0, 10_500 - (Date.now() - down))));
      await broker.restart();
      const up = Date.now();
      const summary: SimulationSummary = await run;
      expect(summary.rejected).toEqual({});
      expect(summary.transportErrors).toBe(0);
      await eventually(async () => {
        const s = await status(running);
        expect(s.outbox?.depth).toBe(0);
        for (const a of summary.acknowledged) {
          expect(readingsOf(sub!.messages, a.deviceId).map((p) => p.upload_id)).toContain(a.uploadId);
        }
      }, 20_000);
      await expectPublishedAsStored(running, summary.acknowledged, sub.messages);
      // The outage really swallowed uploads: some were received while the broker was down.
      const during = readingsOf(sub.messages, 'sim-0001').filter((p) => {
        const t = Date.parse(p.received_at);
        return t > down && t < up;
      });
      expect(during.length).toBeGreaterThan(3);
    } finally {
      await sub?.close();
      await server?.stop();
      await broker.dispose();
    }
  });

  it('publishes after kill -9 what the outbox held, once the server is back', async () => {
    const broker = await PrivateMosquitto.start();
    let server: RunningServer | undefined;
    let sub: Subscriber | undefined;
    try {
      const env = { ECOWATT_MQTT_URL: broker.url, ECOWATT_MQTT_STALL_SECONDS: '1' };
      const first = await startServer({ env });
      server = first;
      await eventually(async () => expect((await status(first)).mqtt.link.connected).toBe(true));
      await broker.stop();
      await eventually(async () => expect((await status(first)).mqtt.link.connected).toBe(false));
      const summary = await runSimulation({
        url: first.url,
        devices: 2,
        intervalSeconds: 0.02,
        uploadsPerDevice: 3,
        encrypt: true,
        keepAcknowledged: true,
      });
      expect(summary.accepted).toBe(6);
      // Two first-seen devices and six uploads wait in the outbox.
      await eventually(async () => expect((await status(first)).outbox?.depth).toBe(8));
      // Nothing can be published: the stall is raised once, as a stored event.
      const stalls = await eventually(async () => {
        const e = await first.admin('GET', '/api/security-events?code=mqtt_outbox_stalled');
        expect(e.json.events).toHaveLength(1);
        return e.json.events;
      });
      expect(stalls[0].reason).toMatch(/broker unreachable/);
      await first.kill();

      await broker.restart();
      sub = await subscribe(broker.url, ['ecowatt/#']);
      const second = await startServer({ env, dataDir: first.dataDir });
      server = second;
      await eventually(async () => {
        for (const a of summary.acknowledged) {
          expect(readingsOf(sub!.messages, a.deviceId).map((p) => p.upload_id)).toContain(a.uploadId);
        }
      }, 15_000);
      await expectPublishedAsStored(second, summary.acknowledged, sub.messages);
      await eventually(async () => expect((await status(second)).outbox?.depth).toBe(0));
    } finally {
      await sub?.close();
      await server?.stop();
      await broker.dispose();
    }
  });
});
