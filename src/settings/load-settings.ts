/**
 * Settings: defaults < optional JSON file < ECOWATT_* environment < CLI flags, parsed and checked
 * once at start-up (checkSettings). A bad value stops the process with a message naming the
 * setting as the user wrote it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { oneOf, SettingsError } from './parsers.js';
import type { Settings } from './sections.js';
import { LOG_LEVELS, type RawSettings, type SettingKey, SPECS } from './specs.js';
import { checkSettings } from './validate-settings.js';

export type SettingsOverrides = Partial<Record<SettingKey, string | number | boolean>>;

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Values from CLI flags; they win over everything else. */
  overrides?: SettingsOverrides;
  /** Path of a JSON settings file (also `ECOWATT_CONFIG`). */
  configFile?: string;
}

/** The flag a setting's key is given as (`mqttUrl` → `--mqtt-url`). */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SettingsError(`Cannot read settings file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SettingsError(`Settings file ${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SettingsError(`Settings file ${file} must hold a JSON object`);
  }
  const known = new Set<string>(SPECS.map((s) => s.key));
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new SettingsError(`Settings file ${file}: unknown setting "${k}"`);
  }
  return parsed as Record<string, unknown>;
}

function parseAll(opts: LoadOptions, env: NodeJS.ProcessEnv): RawSettings {
  const configFile = opts.configFile ?? env.ECOWATT_CONFIG;
  const file = configFile ? readConfigFile(configFile) : {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const s of SPECS) {
    const fromFlag = opts.overrides?.[s.key];
    const fromEnv = env[s.env];
    const fromFile = file[s.key];
    let raw: string | number | boolean | undefined;
    let name: string = s.env;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      name = flagOf(s.key);
    } else if (fromEnv !== undefined && fromEnv !== '') raw = fromEnv;
    else if (fromFile !== undefined) {
      if (typeof fromFile === 'object' && fromFile !== null) {
        throw new SettingsError(`Invalid setting ${s.key} in ${configFile}: expected a scalar`);
      }
      raw = fromFile as string | number | boolean;
      name = `${s.key} (in ${configFile})`;
    }
    out[s.section] ??= {};
    out[s.section][s.field] = raw === undefined ? s.defaultValue : s.parse(raw, name);
  }
  return out as unknown as RawSettings;
}

export function loadSettings(opts: LoadOptions = {}): Settings {
  const env = opts.env ?? process.env;
  const raw = parseAll(opts, env);
  const { server, storage, devices, firmware } = raw;
  if (env.NODE_ENV === 'production' && opts.overrides?.mode === undefined && env.ECOWATT_MODE === undefined) {
    server.mode = 'production';
  }
  // The conventional LOG_LEVEL counts when ours is not set.
  if (env.LOG_LEVEL && !env.ECOWATT_LOG_LEVEL && opts.overrides?.logLevel === undefined) {
    server.logLevel = oneOf(...LOG_LEVELS)(env.LOG_LEVEL, 'LOG_LEVEL');
  }
  const dataDir = path.resolve(storage.dataDir);
  const settings: Settings = {
    ...raw,
    storage: { ...storage, dataDir },
    devices: {
      ...devices,
      unsecuredControl: devices.unsecuredControl ?? (server.mode === 'production' ? 'off' : 'all'),
    },
    firmware: { ...firmware, keyDir: path.resolve(firmware.keyDir ?? path.join(dataDir, 'keys')) },
  };
  checkSettings(settings);
  return settings;
}
