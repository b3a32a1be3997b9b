/**
 * Parsers of setting values: each turns a raw value (environment text, a flag, a JSON scalar)
 * into its type or stops start-up with a message naming where the value came from.
 */
import { isIP } from 'node:net';
import { REPLAY_MODE_EXPECTED, type ReplayMode, readReplayMode } from '../model/replay.js';

export class SettingsError extends Error {}

/** A token bucket: `rate` per second, bursts of `burst`. */
export interface RateSpec {
  rate: number;
  burst: number;
}

export type Parser<T> = (raw: string | number | boolean, name: string) => T;

const fail = (name: string, why: string): never => {
  throw new SettingsError(`Invalid setting ${name}: ${why}`);
};

export const str: Parser<string> = (raw, name) =>
  typeof raw === 'string' && raw.length > 0 ? raw : fail(name, 'expected a non-empty string');

export const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) fail(name, `expected an integer from ${min} to ${max}`);
    return n;
  };

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A whole number of hours, days or weeks (`6h`, `1d`, `2w`), in milliseconds, within bounds. */
export const duration =
  (minMs: number, maxMs: number): Parser<number> =>
  (raw, name) => {
    const m = /^(\d+)\s*([hdw])$/.exec(String(raw).trim().toLowerCase());
    const ms = m ? Number(m[1]) * (DURATION_UNITS[m[2] as string] as number) : Number.NaN;
    if (!(ms >= minMs && ms <= maxMs)) {
      fail(
        name,
        `expected a duration such as 12h, 1d or 1w, from ${minMs / 3_600_000}h to ${maxMs / 86_400_000}d`,
      );
    }
    return ms;
  };

export const bool: Parser<boolean> = (raw, name) => {
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  return fail(name, 'expected true or false');
};

export const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    const s = String(raw).trim();
    const hit = values.find((v) => v.toLowerCase() === s.toLowerCase());
    return hit ?? fail(name, `expected one of ${values.join(', ')}`);
  };

export const hex =
  (bytes: number): Parser<string> =>
  (raw, name) => {
    const s = String(raw).trim();
    if (!/^[0-9a-fA-F]+$/.test(s) || s.length !== bytes * 2) fail(name, `expected ${bytes} bytes as hex`);
    return s.toLowerCase();
  };

/** Firmware chunks are whole AES blocks (16 bytes); field devices need 1024. */
export const aesBlocks: Parser<number> = (raw, name) => {
  const n = int(16, 65_536)(raw, name);
  return n % 16 === 0 ? n : fail(name, 'expected a multiple of 16');
};

/** `R/B` (R tokens per second, bursts of B), or `off`. */
export const rateSpec: Parser<RateSpec | null> = (raw, name) => {
  const s = String(raw).trim().toLowerCase();
  if (s === 'off' || s === '0') return null;
  const m = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[2]) >= 1) return { rate: Number(m[1]), burst: Number(m[2]) };
  return fail(name, 'expected "rate/burst" (e.g. 200/400) or "off"');
};

/** The rule is the model's (`model/replay.ts`); a bad value is a settings error naming its source. */
export const replayMode: Parser<ReplayMode> = (raw, name) =>
  readReplayMode(raw) ?? fail(name, REPLAY_MODE_EXPECTED);

/** `user:pass,user2:pass2`; a password may hold ':' but not ','. */
export const mqttUserList: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  for (const entry of s.split(',')) {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1)
      fail(name, 'expected user:password pairs separated by commas');
  }
  return s;
};

/** A topic prefix subscribers can rely on: no wildcards, no empty level, not a `$` system topic. */
export const topicPrefix: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  const levels = s.split('/');
  if (s.startsWith('$') || levels.some((l) => l === '' || /[+#]/.test(l) || l.includes('\u0000'))) {
    fail(name, 'expected topic levels separated by "/", without "+", "#", empty levels or a leading "$"');
  }
  return s;
};

/** `raw` as a URL, or `undefined` when it is not one. */
function asUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

export const urlWith =
  (protocols: readonly string[], example: string): Parser<string> =>
  (raw, name) => {
    const s = String(raw).trim();
    const url = asUrl(s);
    if (!url || !protocols.includes(url.protocol)) fail(name, `expected a URL such as ${example}`);
    return s;
  };

export const mqttUrl: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  const url = asUrl(s);
  if (!url || !['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname) {
    fail(name, 'expected a broker URL such as mqtt://user:pass@host:1883 or mqtts://host:8883');
  }
  return s;
};

/** The address ranges named as proxy-addr (Fastify's `trustProxy`) knows them. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * Trusted proxies: comma-separated addresses, CIDRs (`10.0.0.0/8`, `fd00::/8`) or the names
 * loopback, linklocal, uniquelocal. Anything else stops start-up: a mistyped entry would otherwise
 * leave a proxy untrusted (every device seen as the proxy) or trust a range nobody meant.
 */
export const proxyList: Parser<string[]> = (raw, name) => {
  const entries = String(raw)
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) fail(name, 'expected addresses or CIDRs, comma-separated');
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.includes(entry.toLowerCase())) continue;
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits && extra === undefined);
    if (family === 0 || !prefixOk) {
      fail(
        name,
        `"${entry}" is not an IP address, a CIDR (address/prefix) or one of ${PROXY_RANGE_NAMES.join(', ')}`,
      );
    }
  }
  return entries;
};
