/** `ecowatt keys generate|import`: the firmware key directory, written locally (owner-only files). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  generateKeys,
  importKeys,
  KeyError,
  type KeyResult,
  resolveKeyDir,
} from '../../firmware/firmware-keys.js';
import { CliError, guarded } from '../admin-client.js';

type Opts = Record<string, string | boolean | undefined>;

function keyDirOf(o: Opts): string {
  const dataDir = typeof o.dataDir === 'string' ? o.dataDir : (process.env.ECOWATT_DATA_DIR ?? './data');
  const keyDir = typeof o.keyDir === 'string' ? o.keyDir : process.env.ECOWATT_KEY_DIR;
  return resolveKeyDir(dataDir, keyDir || undefined);
}

function report(r: KeyResult): void {
  process.stdout.write(
    [
      `key set ${r.keyId} in ${r.dir}`,
      ...r.written.map((f) => `  wrote ${f}`),
      ...r.notes.map((n) => `note: ${n}`),
      '',
    ].join('\n'),
  );
}

function keyErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KeyError) throw new CliError(err.message);
    throw err;
  }
}

export function registerKeysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description('firmware keys: fleet key, firmware AES key, chunk HMAC key, RSA signing pair, C header');
  const where = (cmd: Command) =>
    cmd
      .option('--key-dir <dir>', 'key directory (ECOWATT_KEY_DIR, default <data dir>/keys)')
      .option('-d, --data-dir <dir>', 'data directory (ECOWATT_DATA_DIR, default ./data)');

  where(
    keys
      .command('generate')
      .description('make a fresh key set and a C header for the firmware team')
      .option(
        '--force',
        'replace existing keys (catalogued images and devices built with them stop working)',
      ),
  ).action(
    guarded(async (o: Opts) => {
      report(keyErrors(() => generateKeys(keyDirOf(o), { force: o.force === true })));
    }),
  );

  where(
    keys
      .command('import')
      .description('use the keys field devices already have, so they keep accepting updates')
      .requiredOption('--firmware-aes-key <hex>', 'AES-256 firmware key, 64 hex digits')
      .requiredOption('--chunk-hmac-key <text>', 'chunk HMAC key as the firmware has it (its ASCII text)')
      .option('--signing-key <pem file>', 'RSA private key whose public half the firmware embeds'),
  ).action(
    guarded(async (o: Opts) => {
      let pem: Buffer | undefined;
      if (typeof o.signingKey === 'string') {
        try {
          pem = readFileSync(o.signingKey);
        } catch (err) {
          throw new CliError(`cannot read ${o.signingKey}: ${(err as Error).message}`);
        }
      }
      report(
        keyErrors(() =>
          importKeys(keyDirOf(o), {
            aesKeyHex: String(o.firmwareAesKey),
            chunkKeyText: String(o.chunkHmacKey),
            ...(pem ? { signingKeyPem: pem } : {}),
          }),
        ),
      );
    }),
  );
}
