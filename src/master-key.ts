/**
 * The master key that seals device keys at rest (`KeyVault`): from ECOWATT_MASTER_KEY, or a key
 * file. A development server creates one in the user's config folder, never in the data
 * directory; production requires it to be configured.
 */
import path from 'node:path';
import { KeyVault } from './devices/key-vault.js';
import { SettingsError } from './settings/parsers.js';
import type { DeviceSettings } from './settings/sections.js';

/**
 * The vault of `devices.masterKey` or `devices.masterKeyFile` (load checked that production names
 * one, and that a named file is outside `dataDir`), else of the development default file.
 */
export function loadKeyVault(
  devices: Pick<DeviceSettings, 'masterKey' | 'masterKeyFile'>,
  dataDir: string,
): { vault: KeyVault; notice: string | null } {
  if (devices.masterKey) return { vault: KeyVault.fromHex(devices.masterKey), notice: null };
  const file = devices.masterKeyFile ?? KeyVault.defaultFile();
  // The default file is not a setting, so load could not check it: a data directory that holds
  // the user's config folder (e.g. the home directory) would keep the key beside what it seals.
  if (devices.masterKeyFile === undefined) {
    const inside = path.relative(dataDir, path.resolve(file));
    if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
      throw new SettingsError(`ECOWATT_MASTER_KEY_FILE must not be inside the data directory ${dataDir}.`);
    }
  }
  try {
    const { vault, created } = KeyVault.fromFile(file, devices.masterKeyFile === undefined);
    return { vault, notice: created ? `Created the device-key master key ${file}; back it up.` : null };
  } catch (err) {
    throw new SettingsError(`Master key: ${(err as Error).message}`);
  }
}
