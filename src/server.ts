/**
 * Starts the server: settings → app → listen, and a clean stop on SIGTERM/SIGINT (stop accepting,
 * finish in-flight requests, flush queued writes, close the database).
 */

import cluster from 'node:cluster';
import { adminTokenFile } from './admin-token.js';
import { createApp } from './app.js';
import { checkClusterSettings, runPrimary } from './cluster.js';
import { listenHttps } from './http/https-listener.js';
import {
  effectiveUnsecuredControl,
  type LoadOptions,
  loadSettings,
  redactSettings,
  redactUrl,
  type Settings,
  SettingsError,
} from './settings.js';

export async function serve(opts: LoadOptions = {}): Promise<void> {
  let settings: ReturnType<typeof loadSettings>;
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    settings = loadSettings(opts);
    checkClusterSettings(settings);
    if (settings.workers > 1 && cluster.isPrimary) {
      runPrimary(settings);
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
  let address: string;
  try {
    address = await app.http.listen({ host: settings.host, port: settings.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(
      e.code === 'EADDRINUSE'
        ? `ecowatt: port ${settings.port} is already in use; choose another with --port or ECOWATT_PORT\n`
        : `ecowatt: cannot listen on ${settings.host}:${settings.port}: ${e.message}\n`,
    );
    await app.close();
    process.exit(2);
  }
  let httpsUrl: string | null = null;
  let httpsServer: import('node:https').Server | null = null;
  if (settings.tlsCert || settings.tlsKey) {
    if (!settings.tlsCert || !settings.tlsKey) {
      process.stderr.write('ecowatt: HTTPS needs both ECOWATT_TLS_CERT and ECOWATT_TLS_KEY\n');
      await app.close();
      process.exit(2);
    }
    try {
      const https = await listenHttps(app.http, {
        port: settings.tlsPort,
        host: settings.host,
        certFile: settings.tlsCert,
        keyFile: settings.tlsKey,
        clientCaFile: settings.tlsClientCa,
      });
      httpsUrl = https.url;
      httpsServer = https.server;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(
        e.code === 'EADDRINUSE'
          ? `ecowatt: HTTPS port ${settings.tlsPort} is already in use; choose another with ECOWATT_TLS_PORT\n`
          : `ecowatt: cannot start HTTPS: ${e.message}\n`,
      );
      await app.close();
      process.exit(2);
    }
  }
  const tokenSource = settings.adminToken
    ? 'from ECOWATT_ADMIN_TOKEN'
    : `kept in ${adminTokenFile(settings.dataDir)}`;
  app.http.log.info({ settings: redactSettings(settings) }, 'settings');
  process.stderr.write(
    [
      `EcoWatt Cloud listening on ${address} (${settings.mode} mode)`,
      `  device uploads: POST ${address}/process (e84f720), POST ${address}/aggregated/<id> (1.3)`,
      `  unsigned control requests (ECOWATT_UNSECURED_CONTROL): ${describeUnsecuredControl(settings)}`,
      ...(httpsUrl ? [`  HTTPS: listening on ${httpsUrl}`] : []),
      `  data directory: ${settings.dataDir}`,
      `  storage: ${
        settings.databaseUrl
          ? `PostgreSQL ${redactUrl(settings.databaseUrl)}, replay state in ${settings.replayStore === 'redis' ? 'Redis' : 'the device rows'}`
          : 'SQLite in the data directory'
      }`,
      `  admin token (${tokenSource}): ${app.adminToken}`,
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
    httpsServer?.close();
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

function describeUnsecuredControl(settings: Settings): string {
  const setting = effectiveUnsecuredControl(settings);
  const window = `${settings.controlSourceWindowSeconds} s`;
  switch (setting) {
    case 'off':
      return 'off (only devices whose own policy allows them)';
    case 'all':
      return `both generations, from the address of the device's latest authenticated upload within ${window}`;
    default:
      return `generation ${setting}, from the address of the device's latest authenticated upload within ${window}`;
  }
}
