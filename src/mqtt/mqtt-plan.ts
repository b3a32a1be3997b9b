/**
 * Settings → what MQTT runs: the embedded broker or an external one, its users, TLS files, topics
 * and the server's client id. Read once by whoever starts the runtime, on whichever thread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SettingsError } from '../settings/parsers.js';
import type { MqttSettings } from '../settings/sections.js';
import type { TopicConfig } from './messages.js';

export type MqttMode = 'embedded' | 'external';

/**
 * What the runtime is given: its section, and the two storage facts that name it (on the MQTT
 * thread too, so no more than this crosses to it).
 */
export interface MqttRuntimeSettings {
  mqtt: MqttSettings;
  /** Where the server's client id is kept when `mqtt.clientId` is not set. */
  dataDir: string;
  /** The shared database, when instances share one: message ids name its outbox. */
  databaseUrl: string | undefined;
}

export interface MqttPlan {
  mode: MqttMode;
  /** External broker URL (may hold credentials). */
  url?: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  users: Map<string, string>;
  topics: TopicConfig;
  clientId: string;
}

function readFileSetting(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SettingsError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** `user:password` pairs, from the list setting and from the file (one per line, `#` comments). */
function loadUsers(mqtt: MqttSettings): Map<string, string> {
  const users = new Map<string, string>();
  const add = (entry: string, setting: string) => {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) {
      throw new SettingsError(`${setting}: expected user:password, got an entry without both`);
    }
    users.set(entry.slice(0, colon), entry.slice(colon + 1));
  };
  if (mqtt.users) for (const e of mqtt.users.split(',')) add(e, 'ECOWATT_MQTT_USERS');
  if (mqtt.usersFile) {
    const text = readFileSetting(mqtt.usersFile, 'ECOWATT_MQTT_USERS_FILE').toString('utf8');
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

/** Whether anything publishes (else the storage keeps no outbox, which would only grow). */
export function mqttEnabled(mqtt: MqttSettings): boolean {
  return mqtt.url !== undefined || mqtt.embedded !== false;
}

/**
 * Settings → what to run, or `null` when MQTT is off. Throws `SettingsError` naming the setting
 * when a file it names cannot be read; how the settings combine was checked at load
 * (settings/validate-settings.ts).
 */
export function planMqtt({ mqtt, dataDir, databaseUrl }: MqttRuntimeSettings): MqttPlan | null {
  const external = mqtt.url;
  if (!external && mqtt.embedded === false) return null;
  const tls: MqttPlan['tls'] = {};
  const tlsFiles = [
    ['ca', mqtt.ca, 'ECOWATT_MQTT_CA'],
    ['cert', mqtt.cert, 'ECOWATT_MQTT_CERT'],
    ['key', mqtt.key, 'ECOWATT_MQTT_KEY'],
  ] as const;
  for (const [key, file, setting] of tlsFiles) {
    if (file) tls[key] = readFileSetting(file, setting);
  }
  // Read even for an external broker (which ignores them) so a bad entry or file still stops start-up.
  const users = loadUsers(mqtt);
  const clientId = mqtt.clientId ?? loadOrCreateClientId(dataDir);
  return {
    mode: external ? 'external' : 'embedded',
    ...(external ? { url: external } : {}),
    tls,
    users,
    topics: {
      prefix: mqtt.topicPrefix,
      haPrefix: mqtt.haDiscovery ? mqtt.haPrefix : null,
      // Message ids name the outbox they come from: the shared database when instances share
      // one (so a repeat after a relay handover keeps its id), else this data directory.
      instance: createHash('sha256')
        .update(databaseUrl ? databaseIdentity(databaseUrl) : clientId)
        .digest('hex')
        .slice(0, 8),
    },
    clientId,
  };
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
