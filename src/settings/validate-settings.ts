/**
 * The rules that tie settings together, in one place: a combination that cannot work stops
 * start-up with a message naming the settings; one that works but surprises is a warning.
 * Rules that need a file's content (fleet keys, TLS files, users) stay with their loaders.
 */
import path from 'node:path';
import { SettingsError } from './parsers.js';
import type { Settings } from './sections.js';

export function checkSettings(s: Settings): void {
  const { server, devices, storage, mqtt, tls } = s;
  // A key file may still hold the well-known key: fleet-keys.ts checks what it holds.
  if (server.mode === 'production' && !devices.fleetHmacKey && !devices.fleetKeyFile) {
    throw new SettingsError(
      "Production mode refuses the field firmware's well-known fleet key: set ECOWATT_FLEET_HMAC_KEY (and ECOWATT_FLEET_AES_KEY) or ECOWATT_FLEET_KEY_FILE.",
    );
  }
  if (server.mode === 'production' && devices.defaultAllowUnsecured) {
    throw new SettingsError(
      'ECOWATT_DEFAULT_ALLOW_UNSECURED cannot be true in production mode; allow unsecured uploads per device instead.',
    );
  }
  if (server.mode === 'production' && !devices.masterKey && !devices.masterKeyFile) {
    throw new SettingsError(
      'Production mode needs a master key for device keys: set ECOWATT_MASTER_KEY or ECOWATT_MASTER_KEY_FILE (outside the data directory).',
    );
  }
  if (!devices.masterKey && devices.masterKeyFile) {
    const inside = path.relative(storage.dataDir, path.resolve(devices.masterKeyFile));
    if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
      throw new SettingsError(
        `ECOWATT_MASTER_KEY_FILE must not be inside the data directory ${storage.dataDir}.`,
      );
    }
  }
  if (server.workers > 1) {
    if (storage.databaseUrl === undefined) {
      throw new SettingsError(
        `--workers ${server.workers} needs the PostgreSQL profile (ECOWATT_DATABASE_URL): one SQLite file belongs to one process.`,
      );
    }
    if (mqtt.embedded !== false && mqtt.url === undefined) {
      throw new SettingsError(
        `--workers ${server.workers} needs an external MQTT broker (ECOWATT_MQTT_URL) or MQTT off (ECOWATT_MQTT_EMBEDDED=false).`,
      );
    }
  }
  if (storage.replayStore === 'redis') {
    if (storage.databaseUrl === undefined) {
      throw new SettingsError(
        'ECOWATT_REPLAY_STORE=redis needs ECOWATT_DATABASE_URL (the PostgreSQL profile).',
      );
    }
    if (storage.redisUrl === undefined) {
      throw new SettingsError('ECOWATT_REPLAY_STORE=redis needs ECOWATT_REDIS_URL.');
    }
  }
  if (mqtt.url && mqtt.embedded === true) {
    throw new SettingsError(
      'ECOWATT_MQTT_EMBEDDED=true and ECOWATT_MQTT_URL cannot be combined: the server publishes to one broker',
    );
  }
  for (const [file, setting] of [
    [mqtt.ca, 'ECOWATT_MQTT_CA'],
    [mqtt.cert, 'ECOWATT_MQTT_CERT'],
    [mqtt.key, 'ECOWATT_MQTT_KEY'],
  ] as const) {
    if (file && (!mqtt.url || !/^(mqtts|wss):/i.test(mqtt.url))) {
      throw new SettingsError(`${setting} is set but ECOWATT_MQTT_URL is not an mqtts:// (or wss://) URL`);
    }
  }
  if ((tls.cert || tls.key) && !(tls.cert && tls.key)) {
    throw new SettingsError('HTTPS needs both ECOWATT_TLS_CERT and ECOWATT_TLS_KEY');
  }
}

/** What works but deserves a word at start-up. */
export function settingsWarnings(s: Settings): string[] {
  const warnings: string[] = [];
  if (s.storage.databaseUrl === undefined && s.storage.retentionDays > 0) {
    warnings.push(
      'ECOWATT_RETENTION_DAYS applies to the PostgreSQL profile only; the SQLite file keeps everything.',
    );
  }
  if (s.storage.databaseUrl === undefined && s.storage.partitionIntervalMs !== 86_400_000) {
    warnings.push('ECOWATT_PARTITION_INTERVAL applies to the PostgreSQL profile only.');
  }
  if (s.mqtt.url && (s.mqtt.users || s.mqtt.usersFile)) {
    warnings.push(
      'ECOWATT_MQTT_USERS/ECOWATT_MQTT_USERS_FILE are ignored with an external broker: configure users and ACLs on that broker.',
    );
  }
  return warnings;
}
