/**
 * The master key that seals device keys at rest (`KeyVault`): from ECOWATT_MASTER_KEY, or a key
 * file. A development server creates one in the user's config folder, never in the data
 * directory; production requires it to be configured.
 */
import path from 'node:path';
import { KeyVault } from './devices/key-vault.js';
import { type Settings, SettingsError } from './settings.js';

export function loadKeyVault(settings: Settings): { vault: KeyVault; notice: string | null } {
  if (settings.masterKey) return { vault: KeyVault.fromHex(settings.masterKey), notice: null };
  const file =
    settings.masterKeyFile ?? (settings.mode === 'production' ? undefined : KeyVault.defaultFile());
  if (!file) {
    throw new SettingsError(
      'Production mode needs a master key for device keys: set ECOWATT_MASTER_KEY or ECOWATT_MASTER_KEY_FILE (outside the data directory).',
    );
  }
  const inside = path.relative(settings.dataDir, path.resolve(file));
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new SettingsError(
      `ECOWATT_MASTER_KEY_FILE must not be inside the data directory ${settings.dataDir}.`,
    );
  }
  try {
    const { vault, created } = KeyVault.fromFile(file, settings.masterKeyFile === undefined);
    return { vault, notice: created ? `Created the device-key master key ${file}; back it up.` : null };
  } catch (err) {
    throw new SettingsError(`Master key: ${(err as Error).message}`);
  }
}
