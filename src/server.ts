/**
 * Starts the server: settings → app → listen, and a clean stop on SIGTERM/SIGINT (stop accepting,
 * finish in-flight requests, flush queued writes, close the database).
 */

import cluster from 'node:cluster';
import { adminTokenFile } from './admin-token.js';
import { createApp } from './app.js';
import { runPrimary } from './cluster.js';
import { listenHttps } from './http/https-listener.js';
import { type LoadOptions, loadSettings } from './settings/load-settings.js';
import { SettingsError } from './settings/parsers.js';
import { redactSettings, redactUrl } from './settings/redact.js';
import type { DeviceSettings, Settings } from './settings/sections.js';

export async function serve(opts: LoadOptions = {}): Promise<void> {
  let settings: Settings;
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    settings = loadSettings(opts);
    if (settings.server.workers > 1 && cluster.isPrimary) {
      runPrimary(settings.server.workers);
      return;
    }
    app = await createApp(settings);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`ecowatt: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  for (const w of app.warnings) {
    app.http.log.warn(w);
    process.stderr.write(`\n  WARNING: ${w}\n\n`);
  }
  const { server, storage } = settings;
  let address: string;
  try {
    address = await app.http.listen({ host: server.host, port: server.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(
      e.code === 'EADDRINUSE'
        ? `ecowatt: port ${server.port} is already in use; choose another with --port or ECOWATT_PORT\n`
        : `ecowatt: cannot listen on ${server.host}:${server.port}: ${e.message}\n`,
    );
    await app.close();
    process.exit(2);
  }
  let https: Awaited<ReturnType<typeof listenHttps>> = null;
  try {
    https = await listenHttps(app.http, settings.tls, server.host);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(
      e.code === 'EADDRINUSE'
        ? `ecowatt: HTTPS port ${settings.tls.port} is already in use; choose another with ECOWATT_TLS_PORT\n`
        : `ecowatt: cannot start HTTPS: ${e.message}\n`,
    );
    await app.close();
    process.exit(2);
  }
  const tokenSource = server.adminToken
    ? 'from ECOWATT_ADMIN_TOKEN'
    : `kept in ${adminTokenFile(storage.dataDir)}`;
  const tokenLine =
    app.adminToken === null
      ? '  admin token: off (ECOWATT_ADMIN_TOKEN=off: operators sign in or use API keys)'
      : `  admin token (${tokenSource}, break-glass admin): ${app.adminToken}`;
  app.http.log.info({ settings: redactSettings(settings) }, 'settings');
  process.stderr.write(
    [
      `EcoWatt Cloud listening on ${address} (${server.mode} mode)`,
      `  device uploads: POST ${address}/process (e84f720), POST ${address}/aggregated/<id> (1.3)`,
      `  unsigned control requests (ECOWATT_UNSECURED_CONTROL): ${describeUnsecuredControl(settings.devices)}`,
      ...(https ? [`  HTTPS: listening on ${https.url}`] : []),
      `  data directory: ${storage.dataDir}`,
      `  storage: ${
        storage.databaseUrl
          ? `PostgreSQL ${redactUrl(storage.databaseUrl)}, replay state in ${storage.replayStore === 'redis' ? 'Redis' : 'the device rows'}`
          : 'SQLite in the data directory'
      }`,
      tokenLine,
      ...(app.mqtt?.describe() ?? ['  MQTT: off (ECOWATT_MQTT_EMBEDDED=false and no ECOWATT_MQTT_URL)']),
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.http.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    https?.server.close();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.http.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function describeUnsecuredControl(devices: DeviceSettings): string {
  const setting = devices.unsecuredControl;
  const window = `${devices.controlSourceWindowSeconds} s`;
  switch (setting) {
    case 'off':
      return 'off (only devices whose own policy allows them)';
    case 'all':
      return `both generations, from the address of the device's latest authenticated upload within ${window}`;
    default:
      return `generation ${setting}, from the address of the device's latest authenticated upload within ${window}`;
  }
}
