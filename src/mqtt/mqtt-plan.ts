/**
 * Settings → what MQTT runs: the embedded broker or an external one, its users, TLS files, topics
 * and the server's client id. Read once by whoever starts the runtime, on whichever thread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Settings, SettingsError } from '../settings.js';
import type { TopicConfig } from './messages.js';

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

/** Whether anything publishes (else the storage keeps no outbox, which would only grow). */
export function mqttEnabled(settings: Settings): boolean {
  return settings.mqttUrl !== undefined || settings.mqttEmbedded !== false;
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

/** Host, port and database of a connection URL: the same database however it is reached or logged in to. */
function databaseIdentity(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return url;
  }
}
