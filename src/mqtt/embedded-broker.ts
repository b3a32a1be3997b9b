/**
 * The embedded MQTT broker (Aedes over `node:net`), so `npm start` alone gives dashboards a
 * broker. It keeps sessions and retained messages in memory: the server re-publishes discovery and
 * state after a restart, and the outbox (not the broker) is what makes publication survive one.
 *
 * Access: anonymous clients may connect from loopback (by default) to subscribe; publishing to the
 * server's topics (`<prefix>/#`, `esp32/#`, `<ha prefix>/#`, and any `…/ecowatt_settings`) is
 * reserved to configured users; the server itself publishes in-process (`publishDirect`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { Aedes } from 'aedes';
import type { FastifyBaseLogger } from 'fastify';
import { SettingsError } from '../settings/parsers.js';
import type { MqttAnonymous } from '../settings/sections.js';
import { isSettingsTopic } from './settings-topic.js';

export const DEFAULT_MQTT_PORT = 1883;
/** How far past 1883 the default port may wander when it is taken. */
const AUTO_PORT_TRIES = 100;

export interface EmbeddedBrokerOptions {
  host: string;
  /** `undefined`: 1883, else the next free port. A number (0 = any free port) must be free. */
  port: number | undefined;
  anonymous: MqttAnonymous;
  /** Configured users: name → password. */
  users: ReadonlyMap<string, string>;
  /** First levels (or multi-level prefixes) only the server and users may publish under. */
  reservedPrefixes: readonly string[];
  /** Topics anyone connected may publish to although they are under a reserved prefix. */
  openTopics: readonly string[];
  log: FastifyBaseLogger;
}

type Identity = 'user' | 'anonymous';

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** `true` when the topic is one only authenticated clients may publish to. */
export function isReservedTopic(topic: string, reservedPrefixes: readonly string[]): boolean {
  if (isSettingsTopic(topic)) return true;
  return reservedPrefixes.some((p) => topic === p || topic.startsWith(`${p}/`));
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn;
  return 'remoteAddress' in conn ? conn.remoteAddress : undefined;
}

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

export class EmbeddedBroker {
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly userDigests = new Map<string, Buffer>();
  /** Compared against for unknown users, so they cost the same as known ones. */
  private readonly dummyDigest = digest(randomBytes(24));
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  port = 0;
  /** Set when the default port was taken and another one is used. */
  movedFrom: number | null = null;

  private constructor(private readonly opts: EmbeddedBrokerOptions) {
    for (const [user, password] of opts.users) this.userDigests.set(user, digest(password));
  }

  static async start(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const broker = new EmbeddedBroker(opts);
    await broker.listen();
    return broker;
  }

  /** The address a client on this machine connects to. */
  get localUrl(): string {
    const h = this.opts.host;
    const host =
      h === '0.0.0.0' || h === '' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
    return `mqtt://${host}:${this.port}`;
  }

  /** The address as configured (what an operator reads at start-up). */
  get url(): string {
    const h = this.opts.host;
    return `mqtt://${h.includes(':') ? `[${h}]` : h}:${this.port}`;
  }

  private async listen(): Promise<void> {
    const aedes = await Aedes.createBroker({
      connectTimeout: 10_000,
      drainTimeout: 30_000,
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (_client: Client, sub: Subscription, done) => done(null, sub),
      authorizeForward: (_client: Client, packet: AedesPublishPacket) => packet,
    });
    aedes.on('clientError', (client, err) => {
      this.opts.log.debug({ mqttClient: client.id, err: err.message }, 'mqtt client error');
    });
    aedes.on('connectionError', (client, err) => {
      this.opts.log.debug({ mqttClient: client.id, err: err.message }, 'mqtt connection error');
    });
    const server = net.createServer(aedes.handle);
    const { host, port } = this.opts;
    try {
      if (port !== undefined) {
        this.port = await listen(server, host, port);
      } else {
        this.port = await this.listenFromDefault(server, host);
      }
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') {
        throw new SettingsError(
          `ECOWATT_MQTT_PORT: port ${port} on ${host} is already in use (another MQTT broker?); choose another port, 0 for any free port, or set ECOWATT_MQTT_EMBEDDED=false and ECOWATT_MQTT_URL to use that broker`,
        );
      }
      throw new SettingsError(
        `ECOWATT_MQTT_HOST/ECOWATT_MQTT_PORT: cannot listen on ${host}:${port}: ${e.message}`,
      );
    }
    this.aedes = aedes;
    this.server = server;
  }

  private async listenFromDefault(server: net.Server, host: string): Promise<number> {
    for (let p = DEFAULT_MQTT_PORT; p < DEFAULT_MQTT_PORT + AUTO_PORT_TRIES; p++) {
      try {
        const bound = await listen(server, host, p);
        if (p !== DEFAULT_MQTT_PORT) this.movedFrom = DEFAULT_MQTT_PORT;
        return bound;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
    throw new SettingsError(
      `ECOWATT_MQTT_PORT: ports ${DEFAULT_MQTT_PORT}-${DEFAULT_MQTT_PORT + AUTO_PORT_TRIES - 1} on ${host} are all in use; set a port (0 for any free port)`,
    );
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const address = remoteAddress(client);
    if (username === undefined || username === '') {
      const allowed =
        this.opts.anonymous === 'any' || (this.opts.anonymous === 'loopback' && isLoopback(address));
      if (!allowed) {
        this.opts.log.warn({ mqttClient: client.id, source: address }, 'mqtt: anonymous connection refused');
        done(authError('credentials required', 5), false);
        return;
      }
      this.identities.set(client, 'anonymous');
      done(null, true);
      return;
    }
    const given = digest(password ?? Buffer.alloc(0));
    const expected = this.userDigests.get(username);
    // Unknown users cost the same comparison, so response time does not tell which names exist.
    const ok = timingSafeEqual(given, expected ?? this.dummyDigest) && expected !== undefined;
    if (!ok) {
      this.opts.log.warn({ mqttClient: client.id, source: address, user: username }, 'mqtt: bad credentials');
      done(authError('bad user name or password', 4), false);
      return;
    }
    this.identities.set(client, 'user');
    done(null, true);
  }

  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    const topic = packet.topic;
    if (topic.startsWith('$SYS')) {
      done(new Error('$SYS topics are reserved'));
      return;
    }
    const identity = client ? this.identities.get(client) : undefined;
    const trusted = identity === 'user';
    if (
      trusted ||
      this.opts.openTopics.includes(topic) ||
      !isReservedTopic(topic, this.opts.reservedPrefixes)
    ) {
      done(null);
      return;
    }
    this.opts.log.warn(
      { mqttClient: client?.id, source: client ? remoteAddress(client) : undefined, topic },
      'mqtt: publish refused: topic reserved to authenticated clients',
    );
    // Aedes drops the message and closes the connection (MQTT 3.1.1 has no negative PUBACK).
    done(new Error(`publishing to ${topic} requires credentials`));
  }

  /** Publishes as the server itself (its own topics need no authorisation); see broker-link.ts. */
  publishDirect(topic: string, payload: string, retain: boolean): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('the embedded broker is closed'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  /** Messages clients publish to `topic` (a filter), after `authorizePublish` let them through. */
  subscribeDirect(topic: string, onMessage: (topic: string, payload: Buffer) => void): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('the embedded broker is closed'));
    return new Promise((resolve) => {
      aedes.subscribe(
        topic,
        (packet, done) => {
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          try {
            onMessage(packet.topic, payload);
          } finally {
            done();
          }
        },
        resolve,
      );
    });
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async close(): Promise<void> {
    const aedes = this.aedes;
    const server = this.server;
    this.aedes = undefined;
    this.server = undefined;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
