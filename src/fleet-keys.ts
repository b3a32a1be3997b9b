/**
 * The fleet key every field device shares (PROTOCOL.md §2.5). Taken from settings or a key file;
 * the firmware's well-known keys only in development mode, never in production.
 */
import { readFileSync } from 'node:fs';
import { FIELD_KEYS, type V1Keys } from './protocol/envelope-v1.js';
import { SettingsError } from './settings/parsers.js';
import type { DeviceSettings, Mode } from './settings/sections.js';

export interface FleetKeys {
  keys: V1Keys;
  wellKnown: boolean;
}

const HEX = (bytes: number) => new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`);

function fromFile(file: string): { hmac_key?: string; aes_key?: string; iv?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SettingsError(`ECOWATT_FLEET_KEY_FILE ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new SettingsError(`ECOWATT_FLEET_KEY_FILE ${file}: expected {"hmac_key", "aes_key", "iv"} in hex`);
  }
  const o = parsed as Record<string, unknown>;
  const check = (k: string, bytes: number) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !HEX(bytes).test(v)) {
      throw new SettingsError(`ECOWATT_FLEET_KEY_FILE ${file}: ${k} must be ${bytes} bytes in hex`);
    }
    return v;
  };
  return { hmac_key: check('hmac_key', 32), aes_key: check('aes_key', 16), iv: check('iv', 16) };
}

export function resolveFleetKeys(devices: DeviceSettings, mode: Mode): FleetKeys {
  const file = devices.fleetKeyFile ? fromFile(devices.fleetKeyFile) : {};
  const hmac = devices.fleetHmacKey ?? file.hmac_key;
  const aes = devices.fleetAesKey ?? file.aes_key;
  const iv = devices.fleetIv ?? file.iv;
  const keys: V1Keys = {
    hmacKey: hmac ? Buffer.from(hmac, 'hex') : FIELD_KEYS.hmacKey,
    aesKey: aes ? Buffer.from(aes, 'hex') : FIELD_KEYS.aesKey,
    iv: iv ? Buffer.from(iv, 'hex') : FIELD_KEYS.iv,
  };
  const wellKnown = Buffer.from(keys.hmacKey).equals(FIELD_KEYS.hmacKey);
  // Load refused production without any fleet key; a key file may still leave the HMAC key out
  // (or a setting name the well-known one), which only its content tells.
  if (wellKnown && mode === 'production') {
    throw new SettingsError(
      "Production mode refuses the field firmware's well-known fleet key: set ECOWATT_FLEET_HMAC_KEY (and ECOWATT_FLEET_AES_KEY) or ECOWATT_FLEET_KEY_FILE.",
    );
  }
  return { keys, wellKnown };
}
