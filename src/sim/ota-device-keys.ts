/** The keys a device build compiles in, read from the server's key directory (never the private key). */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_GENERATION, generationKeyDir, KEY_FILES, usesChunkMac } from '../firmware/firmware-keys.js';
import type { Generation } from '../model/device.js';
import { chunkKeyFromText } from '../protocol/firmware/chunk-mac.js';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';

/**
 * `dir` is the key directory (its top); a generation's set is found in it as the server finds it
 * (e84f720 at the top, 1.3 in `1.3/`). A 1.3 build has no chunk key.
 */
export function deviceKeysFromDir(
  dir: string,
  generation: Generation = DEFAULT_GENERATION,
): DeviceFirmwareKeys {
  const own = generationKeyDir(dir, generation);
  const read = (name: string) => {
    const file = path.join(own, name);
    if (!existsSync(file))
      throw new Error(
        `${file} not found: point --key-dir at the server's firmware keys (ecowatt keys generate --generation ${generation})`,
      );
    return readFileSync(file, 'utf8').trim();
  };
  let chunkKey: Buffer | null = null;
  if (usesChunkMac(generation)) {
    chunkKey = chunkKeyFromText(read(KEY_FILES.chunk)) ?? null;
    if (!chunkKey) throw new Error(`${KEY_FILES.chunk} does not hold a usable chunk key`);
  }
  return {
    aesKey: Buffer.from(read(KEY_FILES.aes), 'hex'),
    chunkKey,
    publicKey: createPublicKey(read(KEY_FILES.publicKey)),
  };
}
