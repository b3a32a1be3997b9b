/**
 * `ecowatt keys generate|import [--generation e84f720|1.3]`: the firmware key directory, written
 * locally (owner-only files), one key set per firmware generation (e84f720 by default, at the top
 * of the directory as before; 1.3 in its `1.3/` subdirectory, without a chunk key).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  DEFAULT_GENERATION,
  generateKeys,
  importKeys,
  KeyError,
  type KeyResult,
  parseGenerationName,
  resolveKeyDir,
} from '../../firmware/firmware-keys.js';
import { GENERATIONS, type Generation } from '../../model/device.js';
import { CliError, guarded } from '../admin-client.js';

type Opts = Record<string, string | boolean | undefined>;

function keyDirOf(o: Opts): string {
  const dataDir = typeof o.dataDir === 'string' ? o.dataDir : (process.env.ECOWATT_DATA_DIR ?? './data');
  const keyDir = typeof o.keyDir === 'string' ? o.keyDir : process.env.ECOWATT_KEY_DIR;
  return resolveKeyDir(dataDir, keyDir || undefined);
}

function generationOf(o: Opts): Generation {
  if (typeof o.generation !== 'string') return DEFAULT_GENERATION;
  const g = parseGenerationName(o.generation);
  if (!g) throw new CliError(`--generation takes ${GENERATIONS.join(' or ')}`);
  return g;
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
      .option('-d, --data-dir <dir>', 'data directory (ECOWATT_DATA_DIR, default ./data)')
      .option(
        '--generation <gen>',
        `firmware generation of the set: ${GENERATIONS.join(' | ')} (default ${DEFAULT_GENERATION})`,
      );

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
      const generation = generationOf(o);
      report(keyErrors(() => generateKeys({ root: keyDirOf(o), generation }, { force: o.force === true })));
    }),
  );

  where(
    keys
      .command('import')
      .description('use the keys field devices already have, so they keep accepting updates')
      .requiredOption('--firmware-aes-key <hex>', 'AES-256 firmware key, 64 hex digits')
      .option(
        '--chunk-hmac-key <text>',
        'chunk HMAC key as the firmware has it (its ASCII text); e84f720 only (1.3 checks none)',
      )
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
      const generation = generationOf(o);
      report(
        keyErrors(() =>
          importKeys(
            { root: keyDirOf(o), generation },
            {
              aesKeyHex: String(o.firmwareAesKey),
              chunkKeyText: typeof o.chunkHmacKey === 'string' ? o.chunkHmacKey : undefined,
              ...(pem ? { signingKeyPem: pem } : {}),
            },
          ),
        ),
      );
    }),
  );
}
