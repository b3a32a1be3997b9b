/**
 * Device keys at rest: every key column holds AES-256-GCM ciphertext under a master key that lives
 * outside the database (environment or a key file), so a copy of the database alone reveals no
 * device key. Keys written before a master key existed (plain hex) are still readable.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREFIX = 'gcm1:';

export class KeyVault {
  private constructor(private readonly key: Buffer) {}

  static fromHex(hex: string): KeyVault {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('the master key must be 32 bytes in hex');
    return new KeyVault(Buffer.from(hex, 'hex'));
  }

  /** Reads the key file, or creates it (owner-only) when `create` is set and it does not exist. */
  static fromFile(file: string, create: boolean): { vault: KeyVault; created: boolean } {
    if (!existsSync(file)) {
      if (!create) throw new Error(`master key file ${file} does not exist`);
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      return { vault: KeyVault.fromHex(readFileSync(file, 'utf8').trim()), created: true };
    }
    return { vault: KeyVault.fromHex(readFileSync(file, 'utf8').trim()), created: false };
  }

  /** Where a development server keeps its master key: the user's config folder, not the data directory. */
  static defaultFile(): string {
    const base = process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config');
    return path.join(base, 'ecowatt', 'master.key');
  }

  seal(plainHex: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(Buffer.from(plainHex, 'hex')), cipher.final()]);
    return `${PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  /** Plain hex of a stored key; throws when the stored value was sealed under another master key. */
  open(stored: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    const raw = Buffer.from(stored.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('hex');
  }
}
