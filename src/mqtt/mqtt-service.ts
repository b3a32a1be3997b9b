/**
 * MQTT, composed: the embedded broker (default) or an external one, the server's link to it, the
 * outbox relay, and the settings topic. `app.ts` starts it through the store profile
 * (`Stores.startMqtt`: here or on a thread of its own) after storage and closes it before.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { CommittedUpload } from '../ingest/ingest-service.js';
import type { Outbox } from '../ports/outbox.js';
import { redactUrl, type Settings, SettingsError } from '../settings.js';
import { BrokerLink } from './broker-link.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { FIELD_DATA_TOPIC, type TopicConfig } from './messages.js';
import { type Link, type LinkStatus, MqttLink } from './mqtt-link.js';
import { type DeviceDirectory, OutboxMessageBuilder } from './outbox-messages.js';
import { RecentUploads } from './recent-uploads.js';
import { OutboxRelay, type RelayStats, type StallInfo } from './relay.js';
import {
  type FieldSettingsSink,
  isSettingsTopic,
  parseFieldSettings,
  SETTINGS_SUBSCRIPTIONS,
} from './settings-topic.js';

export type MqttMode = 'embedded' | 'external';

export interface MqttPlan {
  mode: MqttMode;
  /** External broker URL (may hold credentials). */
  url?: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  users: Map<string, string>;
  topics: TopicConfig;
  clientId: string;
  warnings: string[];
}

function readFileSetting(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SettingsError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** `user:password` pairs, from the list setting and from the file (one per line, `#` comments). */
function loadUsers(settings: Settings): Map<string, string> {
  const users = new Map<string, string>();
  const add = (entry: string, setting: string) => {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) {
      throw new SettingsError(`${setting}: expected user:password, got an entry without both`);
    }
    users.set(entry.slice(0, colon), entry.slice(colon + 1));
  };
  if (settings.mqttUsers) for (const e of settings.mqttUsers.split(',')) add(e, 'ECOWATT_MQTT_USERS');
  if (settings.mqttUsersFile) {
    const text = readFileSetting(settings.mqttUsersFile, 'ECOWATT_MQTT_USERS_FILE').toString('utf8');
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line !== '' && !line.startsWith('#')) add(line, 'ECOWATT_MQTT_USERS_FILE');
    }
  }
  return users;
}

/** Stable per data directory, so a restarted server resumes its broker session. */
function loadOrCreateClientId(dataDir: string): string {
  const file = path.join(dataDir, 'mqtt-client-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (id.length > 0) return id;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const id = `ecowatt-${randomBytes(6).toString('hex')}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/** Settings → what to run, or `null` when MQTT is off. Throws `SettingsError` naming the setting. */
export function planMqtt(settings: Settings): MqttPlan | null {
  const external = settings.mqttUrl;
  if (external && settings.mqttEmbedded === true) {
    throw new SettingsError(
      'ECOWATT_MQTT_EMBEDDED=true and ECOWATT_MQTT_URL cannot be combined: the server publishes to one broker',
    );
  }
  if (!external && settings.mqttEmbedded === false) return null;
  const warnings: string[] = [];
  const tls: MqttPlan['tls'] = {};
  const tlsFiles = [
    ['ca', settings.mqttCa, 'ECOWATT_MQTT_CA'],
    ['cert', settings.mqttCert, 'ECOWATT_MQTT_CERT'],
    ['key', settings.mqttKey, 'ECOWATT_MQTT_KEY'],
  ] as const;
  for (const [key, file, setting] of tlsFiles) {
    if (!file) continue;
    if (!external || !/^(mqtts|wss):/i.test(external)) {
      throw new SettingsError(`${setting} is set but ECOWATT_MQTT_URL is not an mqtts:// (or wss://) URL`);
    }
    tls[key] = readFileSetting(file, setting);
  }
  const users = loadUsers(settings);
  if (external && users.size > 0) {
    warnings.push(
      'ECOWATT_MQTT_USERS/ECOWATT_MQTT_USERS_FILE are ignored with an external broker: configure users and ACLs on that broker.',
    );
  }
  const clientId = settings.mqttClientId ?? loadOrCreateClientId(settings.dataDir);
  return {
    mode: external ? 'external' : 'embedded',
    ...(external ? { url: external } : {}),
    tls,
    users,
    topics: {
      prefix: settings.mqttTopicPrefix,
      haPrefix: settings.mqttHaDiscovery ? settings.mqttHaPrefix : null,
      // Message ids name the outbox they come from: the shared database when instances share
      // one (so a repeat after a relay handover keeps its id), else this data directory.
      instance: createHash('sha256')
        .update(settings.databaseUrl ? databaseIdentity(settings.databaseUrl) : clientId)
        .digest('hex')
        .slice(0, 8),
    },
    clientId,
    warnings,
  };
}

export interface MqttServiceDeps {
  outbox: Outbox;
  devices: DeviceDirectory;
  sink: FieldSettingsSink;
  log: FastifyBaseLogger;
  /** `false`: `committed` is never called with the uploads (the MQTT thread): keep none. */
  committedInProcess?: boolean;
  /** A stalled outbox (once per stall), e.g. to store an event. */
  onStall?(info: StallInfo): void;
}

/** What MQTT needs from the rest of the server, whether it runs here or on a thread of its own. */
export type MqttStartDeps = Pick<MqttServiceDeps, 'sink' | 'log' | 'onStall'>;

export interface MqttReadiness {
  ok: boolean;
  url: string;
}

export interface MqttStatus {
  mode: MqttMode;
  link: LinkStatus;
  relay: RelayStats;
  outbox: { depth: number; oldest_age_seconds: number | null };
}

/** MQTT as the rest of the server uses it, run in-process (`MqttService`) or on its own thread. */
export interface MqttHandle {
  readonly warnings: string[];
  /** Start-up lines for the operator. */
  describe(): string[];
  ready(): MqttReadiness;
  status(): Promise<MqttStatus>;
  /** An upload was committed: publish it soon. */
  committed(upload: CommittedUpload): void;
  close(): Promise<void>;
}

export class MqttService implements MqttHandle {
  private constructor(
    readonly mode: MqttMode,
    /** The broker URL as safe to print. */
    readonly url: string,
    readonly relay: OutboxRelay,
    private readonly recent: RecentUploads | null,
    readonly topics: TopicConfig,
    private readonly link: Link,
    private readonly broker: EmbeddedBroker | null,
    readonly warnings: string[],
  ) {}

  static async start(settings: Settings, deps: MqttServiceDeps): Promise<MqttService | null> {
    const plan = planMqtt(settings);
    if (!plan) return null;
    const { topics } = plan;
    const reservedPrefixes = [...new Set([topics.prefix, 'ecowatt', 'esp32', settings.mqttHaPrefix])];
    const haStatusTopic = topics.haPrefix === null ? null : `${topics.haPrefix}/status`;

    let broker: EmbeddedBroker | null = null;
    if (plan.mode === 'embedded') {
      broker = await EmbeddedBroker.start({
        host: settings.mqttHost,
        port: settings.mqttPort,
        anonymous: settings.mqttAnonymous,
        users: plan.users,
        reservedPrefixes,
        // Home Assistant announces itself here, with or without credentials.
        openTopics: haStatusTopic ? [haStatusTopic] : [],
        log: deps.log,
      });
    }
    const url = broker?.localUrl ?? plan.url;
    if (url === undefined) throw new Error('MQTT: neither an embedded broker nor a broker URL');
    const displayUrl = broker ? broker.url : redactUrl(url);

    // Committed uploads are handed over only in this process; on the MQTT thread every one is read.
    const recent = deps.committedInProcess === false ? null : new RecentUploads();
    const builder = new OutboxMessageBuilder(
      topics,
      deps.outbox,
      deps.devices,
      deps.log,
      recent ?? undefined,
    );
    const onMessage = (topic: string, payload: Buffer, retained: boolean) => {
      if (topic === haStatusTopic) {
        if (payload.toString('utf8').trim() === 'online') builder.forgetAnnouncements();
        return;
      }
      if (!isSettingsTopic(topic)) return;
      if (retained) {
        // A retained settings message would be applied again at every reconnection.
        deps.log.warn({ topic }, 'mqtt: retained settings message ignored; publish settings without retain');
        return;
      }
      const parsed = parseFieldSettings(payload);
      if (!parsed.ok) {
        deps.log.warn({ topic, error: parsed.error }, 'mqtt: settings message refused');
        return;
      }
      // Configuration changes deserve a trail whatever the sink does with them.
      deps.log.info(
        { topic, target: parsed.target ?? 'all field devices', settings: parsed.settings },
        'mqtt: settings message accepted',
      );
      deps.sink.applyFieldSettings(parsed.target, parsed.settings).catch((err: unknown) => {
        deps.log.error({ err, topic }, 'mqtt: applying field settings failed');
      });
    };
    const subscriptions = [...SETTINGS_SUBSCRIPTIONS, ...(haStatusTopic ? [haStatusTopic] : [])];
    // Our own broker is reached in-process; an external one over MQTT.
    const link: Link = broker
      ? await BrokerLink.open(broker, { displayUrl, clientId: plan.clientId, subscriptions, onMessage })
      : new MqttLink({
          url,
          displayUrl,
          clientId: plan.clientId,
          ...plan.tls,
          subscriptions,
          onMessage,
          log: deps.log,
        });
    const relay = new OutboxRelay(deps.outbox, builder, link, {
      stallMs: settings.mqttStallSeconds * 1000,
      log: deps.log,
      ...(deps.onStall ? { onStall: deps.onStall } : {}),
    });
    const service = new MqttService(
      plan.mode,
      displayUrl,
      relay,
      recent,
      topics,
      link,
      broker,
      plan.warnings,
    );
    relay.start();
    return service;
  }

  /** An upload was committed: publish it soon, from what the commit wrote. */
  committed(upload: CommittedUpload): void {
    this.recent?.remember(upload);
    this.relay.notify();
  }

  /** Start-up lines for the operator. */
  describe(): string[] {
    const topics = this.topics;
    const moved = this.broker?.movedFrom ? ` (port ${this.broker.movedFrom} is taken)` : '';
    return [
      `  MQTT broker (${this.mode}): ${this.url}${moved}`,
      `  MQTT topics: ${topics.prefix}/<device>/{readings,state,events}, ${FIELD_DATA_TOPIC}${
        topics.haPrefix ? `, ${topics.haPrefix}/sensor/… (discovery)` : ''
      }`,
    ];
  }

  /** The broker connection came or went (never for the embedded broker, reached in-process). */
  onConnectionChange(listener: (connected: boolean) => void): void {
    this.link.onConnectionChange(listener);
  }

  ready(): MqttReadiness {
    return { ok: this.link.connected, url: this.url };
  }

  async status(): Promise<MqttStatus> {
    return {
      mode: this.mode,
      link: this.link.status(),
      relay: this.relay.stats(),
      outbox: await this.relay.outboxStatus(),
    };
  }

  async close(): Promise<void> {
    await this.relay.stop();
    await this.link.close();
    await this.broker?.close();
  }
}

/** Whether anything publishes (else the storage keeps no outbox, which would only grow). */
export function mqttEnabled(settings: Settings): boolean {
  return settings.mqttUrl !== undefined || settings.mqttEmbedded !== false;
}

/** Host, port and database of a connection URL: the same database however it is reached or logged in to. */
function databaseIdentity(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return url;
  }
}
