/** The keys a device build compiles in, read from the server's key directory (never the private key). */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { KEY_FILES } from '../firmware/firmware-keys.js';
import { chunkKeyFromText } from '../protocol/firmware/chunk-mac.js';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';

export function deviceKeysFromDir(dir: string): DeviceFirmwareKeys {
  const read = (name: string) => {
    const file = path.join(dir, name);
    if (!existsSync(file))
      throw new Error(`${file} not found: point --key-dir at the server's firmware keys`);
    return readFileSync(file, 'utf8').trim();
  };
  const chunkKey = chunkKeyFromText(read(KEY_FILES.chunk));
  if (!chunkKey) throw new Error(`${KEY_FILES.chunk} does not hold a usable chunk key`);
  return {
    aesKey: Buffer.from(read(KEY_FILES.aes), 'hex'),
    chunkKey,
    publicKey: createPublicKey(read(KEY_FILES.publicKey)),
  };
}
