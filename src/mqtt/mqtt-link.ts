/**
 * The server's one MQTT connection (MQTT.js), for the embedded broker and an external one alike:
 * a persistent session (`clean: false`) under a stable client id, so QoS 1 messages in flight when
 * the connection drops are sent again on reconnect, and reconnection with exponential backoff.
 */
import type { FastifyBaseLogger } from 'fastify';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttMessage } from './messages.js';
import type { Publisher } from './relay.js';

export interface LinkOptions {
  /** Broker URL; credentials may be in it or in `username`/`password`. */
  url: string;
  /** The URL as safe to show (no password). */
  displayUrl: string;
  clientId: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Topics subscribed (QoS 1) on every connection. */
  subscriptions: readonly string[];
  /** `retained`: a retained message replayed on subscription, not a new one. */
  onMessage(topic: string, payload: Buffer, retained: boolean): void;
  log: FastifyBaseLogger;
  /** Reconnect delays, ms: first, and the cap of the doubling. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface LinkStatus {
  connected: boolean;
  url: string;
  client_id: string;
  /** Since when the link is in its current state. */
  since: string;
  last_error: string | null;
  reconnects: number;
}

/** The server's connection to a broker, as the MQTT service uses it. */
export interface Link extends Publisher {
  status(): LinkStatus;
  close(): Promise<void>;
}

export class MqttLink implements Link {
  private readonly client: MqttClient;
  private readonly listeners = new Set<(connected: boolean) => void>();
  private isConnected = false;
  private since = Date.now();
  private lastError: string | null = null;
  private reconnects = 0;
  private delay: number;
  private errorLogged = false;
  private closed = false;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly opts: LinkOptions) {
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 5000 };
    this.delay = this.backoff.initialMs;
    const options: IClientOptions = {
      clientId: opts.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.backoff.initialMs,
      // A broker that refuses us (ACL or credentials being fixed) is retried like an unreachable one.
      reconnectOnConnackError: true,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
    };
    this.client = connect(opts.url, options);
    this.client.on('connect', (connack) => {
      const outage = this.isConnected ? 0 : Date.now() - this.since;
      this.delay = this.backoff.initialMs;
      this.client.options.reconnectPeriod = this.delay;
      this.errorLogged = false;
      this.setConnected(true);
      opts.log.info(
        { mqtt: opts.displayUrl, sessionPresent: connack.sessionPresent, outageMs: outage },
        'mqtt: connected',
      );
      this.subscribe();
    });
    this.client.on('reconnect', () => {
      this.reconnects++;
      // MQTT.js schedules the next attempt with the period set now: double it, with jitter so a
      // fleet of servers does not reconnect in lockstep.
      this.delay = Math.min(this.backoff.maxMs, this.delay * 2);
      this.client.options.reconnectPeriod = Math.round(this.delay * (0.8 + Math.random() * 0.4));
    });
    this.client.on('close', () => this.setConnected(false));
    this.client.on('offline', () => this.setConnected(false));
    this.client.on('error', (err) => {
      this.lastError = err.message;
      if (!this.errorLogged) {
        this.errorLogged = true;
        opts.log.warn(
          { mqtt: opts.displayUrl, err: err.message },
          'mqtt: broker unreachable; retrying with backoff',
        );
      } else {
        opts.log.debug({ mqtt: opts.displayUrl, err: err.message }, 'mqtt: still unreachable');
      }
    });
    this.client.on('message', (topic, payload, packet) => opts.onMessage(topic, payload, packet.retain));
  }

  get connected(): boolean {
    return this.isConnected;
  }

  onConnectionChange(listener: (connected: boolean) => void): void {
    this.listeners.add(listener);
  }

  private setConnected(connected: boolean): void {
    if (connected === this.isConnected) return;
    if (!connected && !this.closed) {
      this.opts.log.warn({ mqtt: this.opts.displayUrl }, 'mqtt: disconnected; publication paused');
    }
    this.isConnected = connected;
    this.since = Date.now();
    for (const l of this.listeners) l(connected);
  }

  private subscribe(): void {
    if (this.opts.subscriptions.length === 0) return;
    this.client.subscribe([...this.opts.subscriptions], { qos: 1 }, (err, granted) => {
      if (err) {
        this.opts.log.warn({ err: err.message }, 'mqtt: subscribe failed');
        return;
      }
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) this.opts.log.warn({ topics: refused }, 'mqtt: broker refused subscriptions');
    });
  }

  /** Resolves when the broker acknowledged the message (PUBACK). */
  publish(msg: MqttMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.publish(msg.topic, msg.payload, { qos: 1, retain: msg.retain }, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }

  status(): LinkStatus {
    return {
      connected: this.isConnected,
      url: this.opts.displayUrl,
      client_id: this.opts.clientId,
      since: new Date(this.since).toISOString(),
      last_error: this.lastError,
      reconnects: this.reconnects,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    // Forced: the relay has already waited for what it could; the session keeps the rest.
    await this.client.endAsync(true);
  }
}
