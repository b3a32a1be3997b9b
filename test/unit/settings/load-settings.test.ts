import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/settings/load-settings.js';
import { SettingsError } from '../../../src/settings/parsers.js';
import { redactSettings } from '../../../src/settings/redact.js';
import { settingsWarnings } from '../../../src/settings/validate-settings.js';

const load = (env: Record<string, string>, overrides = {}) => loadSettings({ env, overrides });

describe('settings in sections', () => {
  it('gives each section its fields, with defaults', () => {
    const s = load({});
    expect(s.server).toMatchObject({ mode: 'development', port: 5001, host: '0.0.0.0', workers: 1 });
    expect(s.mqtt).toMatchObject({ topicPrefix: 'ecowatt', haDiscovery: true, url: undefined });
    expect(s.limits).toEqual({ source: { rate: 200, burst: 400 }, device: { rate: 5, burst: 20 } });
    expect(s.commands).toEqual({ leaseSeconds: 60, maxAttempts: 3 });
    expect(path.isAbsolute(s.storage.dataDir)).toBe(true);
    expect(s.firmware.keyDir).toBe(path.join(s.storage.dataDir, 'keys'));
  });

  it('reads the same variables and flags as before: flag over environment over default', () => {
    const s = load(
      { ECOWATT_PORT: '6000', ECOWATT_MQTT_TOPIC_PREFIX: 'site/a', ECOWATT_RATE_LIMIT_DEVICE: 'off' },
      { port: '7000' },
    );
    expect(s.server.port).toBe(7000);
    expect(s.mqtt.topicPrefix).toBe('site/a');
    expect(s.limits.device).toBeNull();
  });

  it('resolves what depends on other settings once: unsigned control follows the mode', () => {
    expect(load({}).devices.unsecuredControl).toBe('all');
    const prod = load({
      ECOWATT_MODE: 'production',
      ECOWATT_FLEET_HMAC_KEY: 'ab'.repeat(32),
      ECOWATT_MASTER_KEY: 'cd'.repeat(32),
    });
    expect(prod.devices.unsecuredControl).toBe('off');
    expect(load({ ECOWATT_UNSECURED_CONTROL: '1.3' }).devices.unsecuredControl).toBe('1.3');
  });

  it('refuses combinations that cannot work, naming the settings', () => {
    const refused = (env: Record<string, string>) => {
      try {
        load(env);
      } catch (err) {
        expect(err).toBeInstanceOf(SettingsError);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ ECOWATT_MODE: 'production' })).toMatch(/well-known fleet key/);
    expect(refused({ ECOWATT_MODE: 'production', ECOWATT_FLEET_HMAC_KEY: 'ab'.repeat(32) })).toMatch(
      /needs a master key/,
    );
    expect(refused({ ECOWATT_WORKERS: '2' })).toMatch(/needs the PostgreSQL profile/);
    expect(refused({ ECOWATT_REPLAY_STORE: 'redis' })).toMatch(/needs ECOWATT_DATABASE_URL/);
    expect(refused({ ECOWATT_MQTT_URL: 'mqtt://h:1883', ECOWATT_MQTT_EMBEDDED: 'true' })).toMatch(
      /cannot be combined/,
    );
    expect(refused({ ECOWATT_MQTT_CA: '/ca.pem' })).toMatch(/not an mqtts/);
    expect(refused({ ECOWATT_TLS_CERT: '/c.pem' })).toMatch(/both ECOWATT_TLS_CERT and ECOWATT_TLS_KEY/);
    expect(refused({ ECOWATT_DATA_DIR: '/tmp/ew', ECOWATT_MASTER_KEY_FILE: '/tmp/ew/master.key' })).toMatch(
      /must not be inside the data directory/,
    );
  });

  it('takes trusted proxies as addresses, CIDRs or range names, and refuses anything else by name', () => {
    expect(load({}).server.trustProxy).toBeUndefined();
    expect(
      load({ ECOWATT_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8 ,fd00::/8,::1,loopback' }).server.trustProxy,
    ).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1', 'loopback']);
    for (const bad of [
      '10.0.0.0/33',
      '10.0.0/8',
      'nginx.local',
      '::1/129',
      '10.0.0.1/8/2',
      ',',
      '10.0.0.0/x',
    ]) {
      expect(() => load({ ECOWATT_TRUST_PROXY: bad }), bad).toThrow(/Invalid setting ECOWATT_TRUST_PROXY/);
    }
  });

  it('takes the readings partition interval as a duration, and refuses anything else by name', () => {
    expect(load({}).storage.partitionIntervalMs).toBe(86_400_000);
    expect(load({ ECOWATT_PARTITION_INTERVAL: '6h' }).storage.partitionIntervalMs).toBe(6 * 3_600_000);
    expect(load({ ECOWATT_PARTITION_INTERVAL: ' 2W ' }).storage.partitionIntervalMs).toBe(14 * 86_400_000);
    for (const bad of ['90m', '1.5d', 'daily', '0h', '400d', '1d2h', '-1d']) {
      expect(() => load({ ECOWATT_PARTITION_INTERVAL: bad }), bad).toThrow(
        /Invalid setting ECOWATT_PARTITION_INTERVAL: expected a duration/,
      );
    }
  });

  it('warns about what works but surprises', () => {
    expect(settingsWarnings(load({ ECOWATT_RETENTION_DAYS: '30' }))).toEqual([
      expect.stringMatching(/PostgreSQL profile only/),
    ]);
    expect(settingsWarnings(load({}))).toEqual([]);
  });

  it('hides secrets and URL passwords when printed', () => {
    const s = load({
      ECOWATT_ADMIN_TOKEN: 'secret-token',
      ECOWATT_DATABASE_URL: 'postgres://u:pw@db:5432/x',
      ECOWATT_MQTT_URL: 'mqtt://u:pw@broker:1883',
      ECOWATT_MQTT_EMBEDDED: 'false',
    });
    const shown = JSON.stringify(redactSettings(s));
    expect(shown).not.toContain('secret-token');
    expect(shown).not.toContain('pw@');
    expect(redactSettings(s).storage.databaseUrl).toBe('postgres://u:***@db:5432/x');
  });
});
