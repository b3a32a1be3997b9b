import type { Command } from 'commander';
import { serve } from './server.js';
import type { SettingsOverrides } from './settings/load-settings.js';

interface ServeFlags {
  port?: string;
  workers?: string;
  host?: string;
  dataDir?: string;
  config?: string;
  production?: boolean;
  logLevel?: string;
}

/** The server's flags, shared by `ecowatt serve` (cli/) and `npm start -- <flags>` (main.ts). */
export function withServeFlags(command: Command): Command {
  return command
    .option('-p, --port <port>', 'HTTP port (ECOWATT_PORT)')
    .option('--host <host>', 'address to listen on (ECOWATT_HOST)')
    .option('-d, --data-dir <dir>', 'data directory (ECOWATT_DATA_DIR)')
    .option('-c, --config <file>', 'JSON settings file (ECOWATT_CONFIG)')
    .option('-w, --workers <n>', 'server processes sharing the port (ECOWATT_WORKERS; needs PostgreSQL)')
    .option('--production', 'production mode: refuse well-known keys, no unsecured default')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (ECOWATT_LOG_LEVEL)')
    .action(async (o: ServeFlags) => {
      const overrides: SettingsOverrides = {};
      if (o.port !== undefined) overrides.port = o.port;
      if (o.workers !== undefined) overrides.workers = o.workers;
      if (o.host !== undefined) overrides.host = o.host;
      if (o.dataDir !== undefined) overrides.dataDir = o.dataDir;
      if (o.production) overrides.mode = 'production';
      if (o.logLevel !== undefined) overrides.logLevel = o.logLevel;
      await serve({ overrides, ...(o.config ? { configFile: o.config } : {}) });
    });
}
