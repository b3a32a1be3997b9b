/** Settings as safe to print or log: secrets replaced, passwords cut out of URLs. */
import type { Settings } from './sections.js';

const SECRETS: { [S in keyof Settings]?: readonly (keyof Settings[S])[] } = {
  server: ['adminToken', 'metricsToken'],
  devices: ['fleetHmacKey', 'fleetAesKey', 'fleetIv', 'masterKey'],
  mqtt: ['users'],
};

const URLS: { [S in keyof Settings]?: readonly (keyof Settings[S])[] } = {
  storage: ['databaseUrl', 'redisUrl'],
  mqtt: ['url'],
};

/** A URL as safe to print: its password (if any) replaced. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '[redacted]';
  }
}

export function redactSettings(settings: Settings): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, values] of Object.entries(settings) as [keyof Settings, Record<string, unknown>][]) {
    const secrets = new Set<string>((SECRETS[section] ?? []) as string[]);
    const urls = new Set<string>((URLS[section] ?? []) as string[]);
    out[section] = {};
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) out[section][k] = v;
      else if (secrets.has(k)) out[section][k] = '[redacted]';
      else if (urls.has(k)) out[section][k] = redactUrl(String(v));
      else out[section][k] = v;
    }
  }
  return out;
}
