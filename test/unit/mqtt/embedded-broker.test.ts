/** The embedded broker's access rules, with real MQTT.js clients over TCP. */
import net from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker, type EmbeddedBrokerOptions, isLoopback } from '../../../src/mqtt/embedded-broker.js';
import { SettingsError } from '../../../src/settings/parsers.js';

const log = pino({ level: 'silent' });
const options = (extra: Partial<EmbeddedBrokerOptions> = {}): EmbeddedBrokerOptions => ({
  host: '127.0.0.1',
  port: 0,
  anonymous: 'loopback',
  users: new Map([['dashboard', 'pa:ss word']]),
  reservedPrefixes: ['ecowatt', 'esp32', 'homeassistant'],
  openTopics: ['homeassistant/status'],
  log,
  ...extra,
});

let broker: EmbeddedBroker;
const clients: MqttClient[] = [];

async function client(opts: { username?: string; password?: string } = {}): Promise<MqttClient> {
  const c = await connectAsync(broker.localUrl, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
  clients.push(c);
  return c;
}

/** Everything a loopback subscriber on `#` receives. */
async function watcher(): Promise<{ topic: string; payload: string }[]> {
  const got: { topic: string; payload: string }[] = [];
  const c = await client();
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await c.subscribeAsync('#', { qos: 1 });
  return got;
}

const settle = () => new Promise((r) => setTimeout(r, 150));

beforeAll(async () => {
  broker = await EmbeddedBroker.start(options());
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});
afterAll(async () => {
  await broker.close();
});

describe('embedded broker access', () => {
  it('lets anonymous loopback clients subscribe and receive what the server publishes', async () => {
    const got = await watcher();
    await broker.publishDirect('ecowatt/dev/readings', 'r', false);
    await broker.publishDirect('esp32/ecowatt_data', 'd', false);
    await settle();
    expect(got).toEqual([
      { topic: 'ecowatt/dev/readings', payload: 'r' },
      { topic: 'esp32/ecowatt_data', payload: 'd' },
    ]);
  });

  it("refuses anonymous publishing on the server's topics and on settings topics", async () => {
    const got = await watcher();
    for (const topic of [
      'ecowatt/dev/readings',
      'esp32/ecowatt_data',
      'esp32/ecowatt_settings',
      'site/b/ecowatt_settings',
      'homeassistant/sensor/x/config',
    ]) {
      const anon = await client();
      const closed = new Promise<void>((resolve) => anon.once('close', () => resolve()));
      anon.publish(topic, '{"Changed":true}', { qos: 0 });
      await closed; // the broker drops the message and the connection
    }
    await settle();
    expect(got).toEqual([]);
  });

  it('lets anonymous clients publish elsewhere, and to the Home Assistant status topic', async () => {
    const got = await watcher();
    const anon = await client();
    await anon.publishAsync('lab/notes', 'hello', { qos: 1 });
    await anon.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await settle();
    expect(got.map((g) => g.topic)).toEqual(['lab/notes', 'homeassistant/status']);
  });

  it('lets configured users publish on reserved topics', async () => {
    const got = await watcher();
    const user = await client({ username: 'dashboard', password: 'pa:ss word' });
    await user.publishAsync('esp32/ecowatt_settings', '{"Changed":true}', { qos: 1 });
    await settle();
    expect(got).toEqual([{ topic: 'esp32/ecowatt_settings', payload: '{"Changed":true}' }]);
  });

  it('refuses wrong passwords and unknown users', async () => {
    await expect(client({ username: 'dashboard', password: 'nope' })).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(client({ username: 'nobody', password: 'pa:ss word' })).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(client({ username: 'ecowatt-server', password: 'guess' })).rejects.toThrow(
      /Bad username or password/i,
    );
  });

  it('refuses anonymous connections when configured so', async () => {
    const closed = await EmbeddedBroker.start(options({ anonymous: 'none' }));
    try {
      await expect(connectAsync(closed.localUrl, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    } finally {
      await closed.close();
    }
  });

  it('tells loopback addresses apart', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '1.127.0.0', undefined])
      expect(isLoopback(a)).toBe(false);
  });
});

describe('embedded broker port', () => {
  it('stops with a message naming the setting when an explicit port is taken', async () => {
    await expect(EmbeddedBroker.start(options({ port: broker.port }))).rejects.toThrow(SettingsError);
    await expect(EmbeddedBroker.start(options({ port: broker.port }))).rejects.toThrow(/ECOWATT_MQTT_PORT/);
  });

  it('moves past 1883 when the default port is taken', async () => {
    // Hold 1883 ourselves if nothing else does, so the test does not depend on the machine.
    const holder = net.createServer();
    await new Promise<void>((resolve) => {
      holder.once('error', () => resolve());
      holder.listen({ host: '127.0.0.1', port: 1883, exclusive: true }, () => resolve());
    });
    try {
      const moved = await EmbeddedBroker.start(options({ port: undefined }));
      try {
        expect(moved.port).toBeGreaterThan(1883);
        expect(moved.movedFrom).toBe(1883);
      } finally {
        await moved.close();
      }
    } finally {
      if (holder.listening) await new Promise((r) => holder.close(r));
    }
  });
});
