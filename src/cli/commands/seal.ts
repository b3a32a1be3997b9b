/**
 * `ecowatt seal`: builds the exact v1 envelope a field device would POST (PROTOCOL.md §2), or with
 * `--generation 1.3` the firmware 1.3 envelope (PROTOCOL-1.3.md §2: fifth key `"compressed":false`,
 * never encrypted, first nonce after a fresh boot 11001).
 */
import type { Command } from 'commander';
import { sealV1, type V1Keys } from '../../protocol/envelope-v1.js';
import { nextNonce13, seal13 } from '../../protocol/gen13/index.js';
import {
  addKeyOptions,
  parseKeyOptions,
  parseNonceOption,
  type RawKeyOptions,
  readInput,
  UsageError,
  withUsageErrors,
} from '../key-options.js';

/** Firmware generations the device tools speak. */
export type CliGeneration = 'e84f720' | '1.3';

export function parseGenerationOption(value: string): CliGeneration {
  if (value === 'e84f720' || value === '1.3') return value;
  throw new UsageError(`--generation: expected e84f720 or 1.3, got "${value}"`);
}

export interface SealSettings {
  nonce: number;
  encrypt: boolean;
  /** Each input line is one plaintext; nonces count up from `nonce`. */
  lines: boolean;
  keys: V1Keys;
  /** Set only for 1.3; absent means the field generation (e84f720). */
  generation?: '1.3';
}

export interface RawSealOptions extends RawKeyOptions {
  /** Default: 10001, or 11001 for 1.3 (each generation's first nonce after a fresh boot). */
  nonce?: string;
  encrypt?: boolean;
  lines?: boolean;
  generation?: string;
}

/** Splits on LF, drops a CR before it, and ignores the empty piece after a final newline. */
export function splitLines(input: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < input.length) {
    let end = input.indexOf(0x0a, start);
    if (end === -1) end = input.length;
    const stop = end > start && input[end - 1] === 0x0d ? end - 1 : end;
    lines.push(input.subarray(start, stop));
    start = end + 1;
  }
  return lines;
}

/**
 * One envelope per plaintext. Without `lines` the whole input is the plaintext, byte for byte (a
 * trailing newline is signed too). Nonces wrap 0xFFFFFFFF → 0 like the device's counter (§2.2).
 */
export function sealInput(input: Buffer, settings: SealSettings): string[] {
  const plaintexts = settings.lines ? splitLines(input) : [input];
  if (settings.generation === '1.3') {
    return plaintexts.map((plaintext, i) =>
      seal13(plaintext, (settings.nonce + i) % 2 ** 32, settings.keys.hmacKey),
    );
  }
  return plaintexts.map((plaintext, i) =>
    sealV1(plaintext, {
      nonce: (settings.nonce + i) % 2 ** 32,
      keys: settings.keys,
      encrypt: settings.encrypt,
    }),
  );
}

export function parseSealOptions(raw: RawSealOptions): SealSettings {
  const generation = parseGenerationOption(raw.generation ?? 'e84f720');
  if (generation === '1.3') {
    if (raw.encrypt === true)
      throw new UsageError('--encrypt: firmware 1.3 never encrypts (no AES path exists)');
    return {
      nonce: parseNonceOption('--nonce', raw.nonce ?? String(nextNonce13(null))),
      encrypt: false,
      lines: raw.lines === true,
      keys: parseKeyOptions(raw),
      generation,
    };
  }
  return {
    nonce: parseNonceOption('--nonce', raw.nonce ?? '10001'),
    encrypt: raw.encrypt === true,
    lines: raw.lines === true,
    keys: parseKeyOptions(raw),
  };
}

export function registerSealCommand(program: Command): void {
  const cmd = program
    .command('seal')
    .description('seal a plaintext into a v1 envelope exactly as a field device sends it')
    .argument('[file]', 'plaintext file (default or "-": stdin); its bytes are sealed as they are')
    .option('--nonce <n>', 'nonce of the (first) envelope (default: 10001; 11001 for 1.3)')
    .option('--encrypt', 'AES-128-CBC encrypt the payload with the device padding quirk (e84f720 only)')
    .option('--lines', 'seal each input line as its own plaintext, nonces N, N+1, …')
    .option(
      '--generation <gen>',
      'firmware generation: e84f720, or 1.3 (adds "compressed":false)',
      'e84f720',
    );
  addKeyOptions(cmd).action(async (file: string | undefined, raw: RawSealOptions) => {
    const settings = await withUsageErrors(cmd, () => parseSealOptions(raw));
    const input = await withUsageErrors(cmd, () => readInput(file));
    const out = sealInput(input, settings);
    process.stdout.write(out.map((line) => `${line}\n`).join(''));
  });
}
