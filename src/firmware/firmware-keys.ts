/**
 * The firmware key directory: fleet key, firmware AES-256 key, chunk-HMAC key (kept as the ASCII
 * text the firmware uses), the RSA signing pair, and a C header for the firmware team. Files are
 * owner-only (0600 in a 0700 directory). The private signing key lives only here: it is never
 * served, logged or put in the database; the server holds it as an opaque KeyObject.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chunkKeyFromText, FIELD_CHUNK_KEY_TEXT } from '../protocol/firmware/chunk-mac.js';
import { renderKeyHeader } from './key-header.js';

export const KEY_FILES = {
  fleet: 'fleet-key.json',
  aes: 'firmware-aes.key',
  chunk: 'chunk-hmac.key',
  signing: 'signing-key.pem',
  publicKey: 'signing-key.pub.pem',
  header: 'ecowatt_keys.h',
} as const;

/** The field firmware's AES key (keys.cpp `AES_FIRMWARE_KEY`), committed in the reference repository. */
export const FIELD_FIRMWARE_AES_KEY_HEX = '654d23cd2659f4cc8bc041557d685408348fd701a1a261a82a087e49753bc407';

export interface FirmwareKeys {
  dir: string;
  aesKey: Buffer;
  chunkKeyText: string;
  chunkKey: Buffer;
  signingKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Fingerprint of the whole set: an image is served only under the keys it was prepared with. */
  keyId: string;
}

export class KeyError extends Error {}

export function resolveKeyDir(dataDir: string, keyDir?: string): string {
  return path.resolve(keyDir ?? path.join(dataDir, 'keys'));
}

export function keyIdOf(aesKey: Uint8Array, chunkKey: Uint8Array, publicKey: KeyObject): string {
  return createHash('sha256')
    .update('ecowatt-firmware-keys\0')
    .update(aesKey)
    .update(chunkKey)
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Writes a file owner-only, replacing any old one in one step. */
function writeSecret(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Files of the set that are readable or writable by others than the owner. */
export function loosePermissions(dir: string): string[] {
  const loose: string[] = [];
  if (process.platform === 'win32' || !existsSync(dir)) return loose;
  if ((statSync(dir).mode & 0o077) !== 0) loose.push(dir);
  for (const name of Object.values(KEY_FILES)) {
    const file = path.join(dir, name);
    if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) loose.push(file);
  }
  return loose;
}

function parseAesKey(hex: string, where: string): Buffer {
  const s = hex.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(s))
    throw new KeyError(`${where}: expected a 32-byte AES-256 key in hex (64 digits)`);
  return Buffer.from(s, 'hex');
}

function parseChunkKey(text: string, where: string): Buffer {
  const key = chunkKeyFromText(text);
  if (!key) throw new KeyError(`${where}: expected 16 to 256 printable ASCII characters (no spaces)`);
  return key;
}

function parseSigningKey(pem: string | Buffer, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new KeyError(`${where}: not a PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new KeyError(`${where}: the firmware verifies RSA signatures only`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new KeyError(`${where}: an RSA key of at least 2048 bits is required (got ${bits})`);
  return key;
}

/**
 * Loads the set, or `undefined` when the directory holds none. A partial set is an error: an
 * operator who half-imported keys must know before a device downloads anything.
 */
export function loadFirmwareKeys(dir: string): FirmwareKeys | undefined {
  const file = (name: string) => path.join(dir, name);
  const present = [KEY_FILES.aes, KEY_FILES.chunk, KEY_FILES.signing].filter((n) => existsSync(file(n)));
  if (present.length === 0) return undefined;
  if (present.length < 3) {
    throw new KeyError(
      `incomplete firmware keys in ${dir} (have ${present.join(', ')}): run \`ecowatt keys generate\` or \`ecowatt keys import\``,
    );
  }
  const aesKey = parseAesKey(readFileSync(file(KEY_FILES.aes), 'utf8'), file(KEY_FILES.aes));
  const chunkKeyText = readFileSync(file(KEY_FILES.chunk), 'utf8').trim();
  const chunkKey = parseChunkKey(chunkKeyText, file(KEY_FILES.chunk));
  const signingKey = parseSigningKey(readFileSync(file(KEY_FILES.signing)), file(KEY_FILES.signing));
  const publicKey = createPublicKey(signingKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    dir,
    aesKey,
    chunkKeyText,
    chunkKey,
    signingKey,
    publicKey,
    publicKeyPem,
    keyId: keyIdOf(aesKey, chunkKey, publicKey),
  };
}

/** Warnings about a loaded set an operator should act on. */
export function keyWarnings(keys: FirmwareKeys): string[] {
  const out: string[] = [];
  if (
    keys.aesKey.toString('hex') === FIELD_FIRMWARE_AES_KEY_HEX ||
    keys.chunkKeyText === FIELD_CHUNK_KEY_TEXT
  ) {
    out.push(
      "The firmware keys include the field firmware's PUBLISHED AES or chunk key: images are readable by anyone. Keep them only while field devices need them.",
    );
  }
  const loose = loosePermissions(keys.dir);
  if (loose.length > 0)
    out.push(`Firmware key files readable by others: ${loose.join(', ')} (chmod 600, directory 700).`);
  return out;
}

function hasKeys(dir: string): boolean {
  return [KEY_FILES.aes, KEY_FILES.chunk, KEY_FILES.signing].some((n) => existsSync(path.join(dir, n)));
}

function newSigningPair(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

function writeSigningPair(dir: string, key: KeyObject): void {
  writeSecret(dir, KEY_FILES.signing, key.export({ type: 'pkcs8', format: 'pem' }).toString());
  writeSecret(
    dir,
    KEY_FILES.publicKey,
    createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(),
  );
}

function readFleet(dir: string): { hmac_key: string; aes_key: string; iv: string } | undefined {
  const file = path.join(dir, KEY_FILES.fleet);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as { hmac_key: string; aes_key: string; iv: string };
}

function writeHeader(dir: string): string {
  const keys = loadFirmwareKeys(dir) as FirmwareKeys;
  return writeSecret(dir, KEY_FILES.header, renderKeyHeader(keys, readFleet(dir), new Date()));
}

export interface KeyResult {
  dir: string;
  keyId: string;
  written: string[];
  notes: string[];
}

/** A fresh set: fleet key, firmware AES key, chunk key, RSA-2048 pair, C header. */
export function generateKeys(dir: string, opts: { force?: boolean } = {}): KeyResult {
  if (hasKeys(dir) && !opts.force) {
    throw new KeyError(
      `${dir} already holds firmware keys; replacing them orphans every catalogued image and every device built with them. Pass --force to replace them anyway.`,
    );
  }
  ensureDir(dir);
  const written = [
    writeSecret(
      dir,
      KEY_FILES.fleet,
      `${JSON.stringify(
        {
          hmac_key: randomBytes(32).toString('hex'),
          aes_key: randomBytes(16).toString('hex'),
          iv: randomBytes(16).toString('hex'),
        },
        null,
        2,
      )}\n`,
    ),
    writeSecret(dir, KEY_FILES.aes, `${randomBytes(32).toString('hex')}\n`),
    // Hex digits keep the key printable for a C string literal; the firmware uses the text itself.
    writeSecret(dir, KEY_FILES.chunk, `${randomBytes(32).toString('hex')}\n`),
  ];
  writeSigningPair(dir, newSigningPair());
  written.push(path.join(dir, KEY_FILES.signing), path.join(dir, KEY_FILES.publicKey), writeHeader(dir));
  const keys = loadFirmwareKeys(dir) as FirmwareKeys;
  return {
    dir,
    keyId: keys.keyId,
    written,
    notes: [
      `The server picks up the firmware keys from ${dir} at start-up (restart it).`,
      `The new fleet key is used only when you point the server at it: ECOWATT_FLEET_KEY_FILE=${path.join(dir, KEY_FILES.fleet)}. Devices built with the old fleet key cannot upload under a new one.`,
    ],
  };
}

/**
 * Imports the keys the field fleet already has, so devices in the field keep accepting updates.
 * Without a signing key the directory's existing pair is kept, or a new one is made (devices that
 * embed the old public key would then refuse every image, which the notes say).
 */
export function importKeys(
  dir: string,
  input: { aesKeyHex: string; chunkKeyText: string; signingKeyPem?: string | Buffer },
): KeyResult {
  const aes = parseAesKey(input.aesKeyHex, '--firmware-aes-key');
  parseChunkKey(input.chunkKeyText, '--chunk-hmac-key');
  const signing =
    input.signingKeyPem !== undefined ? parseSigningKey(input.signingKeyPem, '--signing-key') : undefined;
  ensureDir(dir);
  const notes: string[] = [`The server picks up the firmware keys from ${dir} at start-up (restart it).`];
  const written = [
    writeSecret(dir, KEY_FILES.aes, `${aes.toString('hex')}\n`),
    writeSecret(dir, KEY_FILES.chunk, `${input.chunkKeyText}\n`),
  ];
  if (signing) {
    writeSigningPair(dir, signing);
    written.push(path.join(dir, KEY_FILES.signing), path.join(dir, KEY_FILES.publicKey));
  } else if (!existsSync(path.join(dir, KEY_FILES.signing))) {
    writeSigningPair(dir, newSigningPair());
    written.push(path.join(dir, KEY_FILES.signing), path.join(dir, KEY_FILES.publicKey));
    notes.push(
      'No --signing-key given and none in the directory: a NEW RSA-2048 pair was made. Devices that embed the old public key will refuse images signed with it.',
    );
  }
  written.push(writeHeader(dir));
  const keys = loadFirmwareKeys(dir) as FirmwareKeys;
  return { dir, keyId: keys.keyId, written, notes: [...notes, ...keyWarnings(keys)] };
}
