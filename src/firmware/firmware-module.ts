/** The firmware capability assembled from its store and the settings: keys, catalogue, rollouts, OTA. */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { FirmwareStore } from '../ports/firmware-store.js';
import { type Settings, SettingsError } from '../settings.js';
import { FirmwareCatalogue } from './firmware-catalogue.js';
import { type FirmwareKeys, KeyError, keyWarnings, loadKeySets, resolveKeyDir } from './firmware-keys.js';
import { OtaService } from './ota-service.js';
import { RolloutService } from './rollout-service.js';

export interface FirmwareModule {
  catalogue: FirmwareCatalogue;
  rollouts: RolloutService;
  ota: OtaService;
  warnings: string[];
}

export function createFirmware(settings: Settings, store: FirmwareStore, log: Logger): FirmwareModule {
  const keyDir = resolveKeyDir(settings.dataDir, settings.keyDir);
  // One set per firmware generation (e84f720 at the top of the directory, 1.3 in `1.3/`).
  let keys: FirmwareKeys[];
  try {
    keys = loadKeySets(keyDir);
  } catch (err) {
    if (err instanceof KeyError) throw new SettingsError(err.message);
    throw err;
  }
  const catalogue = new FirmwareCatalogue(store, keys, {
    dataDir: settings.dataDir,
    maxBytes: settings.firmwareMaxBytes,
    chunkSize: settings.firmwareChunkSize,
    keyDir,
  });
  return {
    catalogue,
    rollouts: new RolloutService(store, catalogue),
    ota: new OtaService(store, catalogue, log),
    warnings: keys.flatMap((k) => keyWarnings(k)),
  };
}
