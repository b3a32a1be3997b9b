/**
 * The firmware key directory: fleet key, firmware AES-256 key, chunk-HMAC key (kept as the ASCII
 * text the firmware uses), the RSA signing pair, and a C header for the firmware team. Files are
 * owner-only (0600 in a 0700 directory). The private signing key lives only here: it is never
 * served, logged or put in the database; the server holds it as an opaque KeyObject.
 *
 * One key set per firmware generation: the e84f720 set at the top of the directory (as before
 * generations existed), the 1.3 set in its subdirectory `1.3/` — the 1.3 firmware embeds its own
 * AES key and RSA public key and checks no chunk HMAC, so its set has no chunk key.
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
import { GENERATIONS, type Generation } from '../model/device.js';
import { chunkKeyFromText, FIELD_CHUNK_KEY_TEXT } from '../protocol/firmware/chunk-mac.js';
import { renderKeyHeader } from './key-header.js';

/** The generation of today's commands and files when none is named. */
export const DEFAULT_GENERATION: Generation = 'e84f720';

/** Whether a generation's firmware checks the per-chunk HMAC (PROTOCOL-1.3.md §8: 1.3 does not). */
export function usesChunkMac(generation: Generation): boolean {
  return generation === 'e84f720';
}

export function parseGenerationName(text: string): Generation | undefined {
  return (GENERATIONS as readonly string[]).includes(text) ? (text as Generation) : undefined;
}

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
  generation: Generation;
  dir: string;
  aesKey: Buffer;
  /** `null` for a generation that checks no chunk HMAC (1.3). */
  chunkKeyText: string | null;
  chunkKey: Buffer | null;
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

/** Where a generation's set lives in the key directory: e84f720 at the top, others in a subdirectory. */
export function generationKeyDir(root: string, generation: Generation): string {
  return generation === DEFAULT_GENERATION ? root : path.join(root, generation);
}

/** The e84f720 fingerprint is unchanged from before generations, so catalogued images stay servable. */
export function keyIdOf(
  aesKey: Uint8Array,
  chunkKey: Uint8Array | null,
  publicKey: KeyObject,
  generation: Generation = DEFAULT_GENERATION,
): string {
  const h = createHash('sha256');
  if (generation === DEFAULT_GENERATION) h.update('ecowatt-firmware-keys\0');
  else h.update(`ecowatt-firmware-keys-${generation}\0`);
  h.update(aesKey);
  if (chunkKey) h.update(chunkKey);
  return h
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

function parseSigningKey(pem: string | Buffer, where: string, generation: Generation): KeyObject {
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
  // The 1.3 firmware decodes the signature into exactly 256 bytes (OTAManager verifySignature).
  if (generation === '1.3' && bits !== 2048)
    throw new KeyError(`${where}: the 1.3 firmware verifies RSA-2048 signatures only (got ${bits} bits)`);
  return key;
}

/** The files a generation's set must have. */
function requiredFiles(generation: Generation): string[] {
  return usesChunkMac(generation)
    ? [KEY_FILES.aes, KEY_FILES.chunk, KEY_FILES.signing]
    : [KEY_FILES.aes, KEY_FILES.signing];
}

function generationOption(generation: Generation): string {
  return generation === DEFAULT_GENERATION ? '' : ` --generation ${generation}`;
}

/**
 * Loads the set, or `undefined` when the directory holds none. A partial set is an error: an
 * operator who half-imported keys must know before a device downloads anything. `dir` is the
 * generation's own directory (see `generationKeyDir`).
 */
export function loadFirmwareKeys(
  dir: string,
  generation: Generation = DEFAULT_GENERATION,
): FirmwareKeys | undefined {
  const file = (name: string) => path.join(dir, name);
  const required = requiredFiles(generation);
  const present = required.filter((n) => existsSync(file(n)));
  if (present.length === 0) return undefined;
  if (present.length < required.length) {
    const opt = generationOption(generation);
    throw new KeyError(
      `incomplete ${generation} firmware keys in ${dir} (have ${present.join(', ')}): run \`ecowatt keys generate${opt}\` or \`ecowatt keys import${opt}\``,
    );
  }
  const aesKey = parseAesKey(readFileSync(file(KEY_FILES.aes), 'utf8'), file(KEY_FILES.aes));
  const chunkKeyText = usesChunkMac(generation) ? readFileSync(file(KEY_FILES.chunk), 'utf8').trim() : null;
  const chunkKey = chunkKeyText === null ? null : parseChunkKey(chunkKeyText, file(KEY_FILES.chunk));
  const signingKey = parseSigningKey(
    readFileSync(file(KEY_FILES.signing)),
    file(KEY_FILES.signing),
    generation,
  );
  const publicKey = createPublicKey(signingKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    generation,
    dir,
    aesKey,
    chunkKeyText,
    chunkKey,
    signingKey,
    publicKey,
    publicKeyPem,
    keyId: keyIdOf(aesKey, chunkKey, publicKey, generation),
  };
}

/** Every generation's set found under the key directory (missing generations are absent). */
export function loadKeySets(root: string): FirmwareKeys[] {
  const sets: FirmwareKeys[] = [];
  for (const g of GENERATIONS) {
    const keys = loadFirmwareKeys(generationKeyDir(root, g), g);
    if (keys) sets.push(keys);
  }
  return sets;
}

/** Warnings about a loaded set an operator should act on. */
export function keyWarnings(keys: FirmwareKeys): string[] {
  const out: string[] = [];
  if (
    keys.aesKey.toString('hex') === FIELD_FIRMWARE_AES_KEY_HEX ||
    keys.chunkKeyText === FIELD_CHUNK_KEY_TEXT
  ) {
    out.push(
      `The ${keys.generation} firmware keys include the field firmware's PUBLISHED AES or chunk key: images are readable by anyone. Keep them only while field devices need them.`,
    );
  }
  const loose = loosePermissions(keys.dir);
  if (loose.length > 0)
    out.push(`Firmware key files readable by others: ${loose.join(', ')} (chmod 600, directory 700).`);
  return out;
}

function hasKeys(dir: string, generation: Generation): boolean {
  return requiredFiles(generation).some((n) => existsSync(path.join(dir, n)));
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

/** The fleet key (upload envelopes) is one for every generation: it lives with the e84f720 set. */
function writeHeader(dir: string, generation: Generation, root: string): string {
  const keys = loadFirmwareKeys(dir, generation) as FirmwareKeys;
  return writeSecret(dir, KEY_FILES.header, renderKeyHeader(keys, readFleet(root), new Date()));
}

export interface KeyTarget {
  /** The key directory (its top: a generation's set is placed inside it). */
  root: string;
  generation?: Generation;
}

function target(where: string | KeyTarget): { root: string; dir: string; generation: Generation } {
  const t = typeof where === 'string' ? { root: where } : where;
  const generation = t.generation ?? DEFAULT_GENERATION;
  return { root: t.root, dir: generationKeyDir(t.root, generation), generation };
}

export interface KeyResult {
  dir: string;
  keyId: string;
  written: string[];
  notes: string[];
}

/**
 * A fresh set. e84f720: fleet key, firmware AES key, chunk key, RSA-2048 pair, C header. 1.3: the
 * firmware AES key, the RSA-2048 pair and a header (no chunk key; the fleet key is shared).
 */
export function generateKeys(where: string | KeyTarget, opts: { force?: boolean } = {}): KeyResult {
  const { root, dir, generation } = target(where);
  if (hasKeys(dir, generation) && !opts.force) {
    throw new KeyError(
      `${dir} already holds ${generation} firmware keys; replacing them orphans every catalogued ${generation} image and every device built with them. Pass --force to replace them anyway.`,
    );
  }
  ensureDir(root);
  ensureDir(dir);
  const written: string[] = [];
  if (generation === DEFAULT_GENERATION) {
    written.push(
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
    );
  }
  written.push(writeSecret(dir, KEY_FILES.aes, `${randomBytes(32).toString('hex')}\n`));
  if (usesChunkMac(generation)) {
    // Hex digits keep the key printable for a C string literal; the firmware uses the text itself.
    written.push(writeSecret(dir, KEY_FILES.chunk, `${randomBytes(32).toString('hex')}\n`));
  }
  writeSigningPair(dir, newSigningPair());
  written.push(
    path.join(dir, KEY_FILES.signing),
    path.join(dir, KEY_FILES.publicKey),
    writeHeader(dir, generation, root),
  );
  const keys = loadFirmwareKeys(dir, generation) as FirmwareKeys;
  const notes = [`The server picks up the ${generation} firmware keys from ${dir} at start-up (restart it).`];
  if (generation === DEFAULT_GENERATION) {
    notes.push(
      `The new fleet key is used only when you point the server at it: ECOWATT_FLEET_KEY_FILE=${path.join(dir, KEY_FILES.fleet)}. Devices built with the old fleet key cannot upload under a new one.`,
    );
  } else {
    notes.push(
      `Build the ${generation} firmware with ${path.join(dir, KEY_FILES.header)} (its AES key and public key); add its images with \`ecowatt firmware add <file> --version X.Y.Z --generation ${generation}\`.`,
    );
  }
  return { dir, keyId: keys.keyId, written, notes };
}

/**
 * Imports the keys the field fleet already has, so devices in the field keep accepting updates.
 * Without a signing key the directory's existing pair is kept, or a new one is made (devices that
 * embed the old public key would then refuse every image, which the notes say). A chunk key is
 * required for e84f720 and refused for 1.3 (whose firmware checks none).
 */
export function importKeys(
  where: string | KeyTarget,
  input: { aesKeyHex: string; chunkKeyText?: string | undefined; signingKeyPem?: string | Buffer },
): KeyResult {
  const { root, dir, generation } = target(where);
  const aes = parseAesKey(input.aesKeyHex, '--firmware-aes-key');
  if (usesChunkMac(generation)) {
    if (input.chunkKeyText === undefined)
      throw new KeyError(`--chunk-hmac-key: required for ${generation} (its firmware checks a chunk HMAC)`);
    parseChunkKey(input.chunkKeyText, '--chunk-hmac-key');
  } else if (input.chunkKeyText !== undefined) {
    throw new KeyError(`--chunk-hmac-key: the ${generation} firmware checks no chunk HMAC; leave it out`);
  }
  const signing =
    input.signingKeyPem !== undefined
      ? parseSigningKey(input.signingKeyPem, '--signing-key', generation)
      : undefined;
  ensureDir(root);
  ensureDir(dir);
  const notes: string[] = [
    `The server picks up the ${generation} firmware keys from ${dir} at start-up (restart it).`,
  ];
  const written = [writeSecret(dir, KEY_FILES.aes, `${aes.toString('hex')}\n`)];
  if (input.chunkKeyText !== undefined)
    written.push(writeSecret(dir, KEY_FILES.chunk, `${input.chunkKeyText}\n`));
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
  written.push(writeHeader(dir, generation, root));
  const keys = loadFirmwareKeys(dir, generation) as FirmwareKeys;
  return { dir, keyId: keys.keyId, written, notes: [...notes, ...keyWarnings(keys)] };
}
