import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIELD_FIRMWARE_AES_KEY_HEX,
  generateKeys,
  importKeys,
  KEY_FILES,
  KeyError,
  keyWarnings,
  loadFirmwareKeys,
} from '../../../src/firmware/firmware-keys.js';
import { FIELD_CHUNK_KEY_TEXT } from '../../../src/protocol/firmware/chunk-mac.js';

const tmp = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ecowatt-keys-')), 'keys');
const mode = (f: string) => statSync(f).mode & 0o777;

describe('firmware key directory', () => {
  it('generates a complete owner-only set and a header without the private key', () => {
    const dir = tmp();
    const r = generateKeys(dir);
    expect(mode(dir)).toBe(0o700);
    for (const name of Object.values(KEY_FILES)) expect(mode(path.join(dir, name)), name).toBe(0o600);
    const keys = loadFirmwareKeys(dir)!;
    expect(keys.keyId).toBe(r.keyId);
    expect(keys.aesKey).toHaveLength(32);
    expect(keys.chunkKeyText).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.signingKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const header = readFileSync(path.join(dir, KEY_FILES.header), 'utf8');
    expect(header).not.toMatch(/PRIVATE/);
    expect(header).toContain('BEGIN PUBLIC KEY');
    expect(header).toContain(`HMAC_FOTA_KEY[] = "${keys.chunkKeyText}"`);
    expect(header).toContain('ECOWATT_FLEET_HMAC_KEY[32]');
    expect(keyWarnings(keys)).toEqual([]);
  });

  it('refuses to replace keys without force', () => {
    const dir = tmp();
    generateKeys(dir);
    expect(() => generateKeys(dir)).toThrow(KeyError);
    expect(generateKeys(dir, { force: true }).written.length).toBeGreaterThan(0);
  });

  it('imports the field keys (chunk key kept as its text) with the field signing key', () => {
    const dir = tmp();
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    });
    const r = importKeys(dir, {
      aesKeyHex: FIELD_FIRMWARE_AES_KEY_HEX,
      chunkKeyText: FIELD_CHUNK_KEY_TEXT,
      signingKeyPem: pem,
    });
    const keys = loadFirmwareKeys(dir)!;
    expect(keys.chunkKey?.toString('latin1')).toBe(FIELD_CHUNK_KEY_TEXT);
    expect(keys.chunkKey).toHaveLength(64);
    expect(keys.aesKey.toString('hex')).toBe(FIELD_FIRMWARE_AES_KEY_HEX);
    expect(keys.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString()).toBe(
      createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    expect(r.notes.join(' ')).toMatch(/PUBLISHED/);
  });

  it('makes a new signing pair when none is given or present, and says what that means', () => {
    const dir = tmp();
    const r = importKeys(dir, { aesKeyHex: 'ab'.repeat(32), chunkKeyText: 'x'.repeat(40) });
    expect(r.notes.join(' ')).toMatch(/NEW RSA-2048 pair/);
    expect(loadFirmwareKeys(dir)).toBeDefined();
  });

  it('rejects unusable keys with the option named', () => {
    const dir = tmp();
    expect(() => importKeys(dir, { aesKeyHex: 'abcd', chunkKeyText: 'x'.repeat(40) })).toThrow(
      /--firmware-aes-key/,
    );
    expect(() => importKeys(dir, { aesKeyHex: 'ab'.repeat(32), chunkKeyText: 'has space here!!' })).toThrow(
      /--chunk-hmac-key/,
    );
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    expect(() =>
      importKeys(dir, { aesKeyHex: 'ab'.repeat(32), chunkKeyText: 'x'.repeat(40), signingKeyPem: small }),
    ).toThrow(/2048/);
  });

  it('loads nothing from an empty directory and refuses a partial set', () => {
    const dir = tmp();
    expect(loadFirmwareKeys(dir)).toBeUndefined();
    generateKeys(dir);
    const partial = tmp();
    importKeys(partial, { aesKeyHex: 'ab'.repeat(32), chunkKeyText: 'x'.repeat(40) });
    rmSync(path.join(partial, KEY_FILES.signing));
    expect(() => loadFirmwareKeys(partial)).toThrow(/incomplete/);
  });
});
