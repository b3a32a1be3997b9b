/** The server's in-process link to its embedded broker, observed by real MQTT.js clients over TCP. */
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerLink } from '../../../src/mqtt/broker-link.js';
import { EmbeddedBroker } from '../../../src/mqtt/embedded-broker.js';
import { eventually } from '../../helpers/eventually.js';

let broker: EmbeddedBroker;
let link: BrokerLink;
const received: { topic: string; payload: string; retained: boolean }[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await EmbeddedBroker.start({
    host: '127.0.0.1',
    port: 0,
    anonymous: 'loopback',
    users: new Map([['nodered', 's3cret']]),
    reservedPrefixes: ['ecowatt', 'esp32'],
    openTopics: [],
    log: pino({ level: 'silent' }),
  });
  link = await BrokerLink.open(broker, {
    displayUrl: broker.url,
    clientId: 'test-server',
    subscriptions: ['esp32/ecowatt_settings'],
    onMessage: (topic, payload, retained) => received.push({ topic, payload: payload.toString(), retained }),
  });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await link.close();
  await broker.close();
});

async function client(opts: { username?: string; password?: string } = {}): Promise<MqttClient> {
  const c = await connectAsync(broker.localUrl, { reconnectPeriod: 0, ...opts });
  clients.push(c);
  return c;
}

describe('in-process broker link', () => {
  it("delivers the server's messages to subscribers in publication order, retained or not", async () => {
    const sub = await client();
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('ecowatt/#', { qos: 1 });
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      sent.push(
        link.publish({ topic: 'ecowatt/d/state', payload: `m${i}`, retain: i % 3 === 0, id: `m${i}` }),
      );
    }
    await Promise.all(sent);
    await eventually(async () => expect(got).toHaveLength(200));
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(link.status()).toMatchObject({ connected: true, client_id: 'test-server', reconnects: 0 });
  });

  it('keeps retained messages for later subscribers', async () => {
    await link.publish({ topic: 'ecowatt/r/state', payload: 'kept', retain: true, id: 'r' });
    const late = await client();
    const got: string[] = [];
    late.on('message', (_topic, payload) => got.push(payload.toString()));
    await late.subscribeAsync('ecowatt/r/state', { qos: 1 });
    await eventually(async () => expect(got).toEqual(['kept']));
  });

  it('hands the server what authorised users publish on its subscriptions, and nothing refused', async () => {
    const anon = await client();
    const closed = new Promise<void>((resolve) => anon.once('close', () => resolve()));
    anon.publish('esp32/ecowatt_settings', 'from-anonymous', { qos: 0 });
    await closed;
    const user = await client({ username: 'nodered', password: 's3cret' });
    await user.publishAsync('esp32/ecowatt_settings', 'from-user', { qos: 1 });
    await eventually(async () => expect(received.map((r) => r.payload)).toContain('from-user'));
    expect(received).toEqual([{ topic: 'esp32/ecowatt_settings', payload: 'from-user', retained: false }]);
  });

  it('refuses to publish once closed', async () => {
    const other = await BrokerLink.open(broker, {
      displayUrl: broker.url,
      clientId: 'closing',
      subscriptions: [],
      onMessage: () => {},
    });
    await other.close();
    expect(other.connected).toBe(false);
    await expect(other.publish({ topic: 'ecowatt/x', payload: 'x', retain: false, id: 'x' })).rejects.toThrow(
      /closed/,
    );
  });
});
