/** `ecowatt seal`: builds the exact v1 envelope a field device would POST (PROTOCOL.md §2). */
import type { Command } from 'commander';
import { sealV1, type V1Keys } from '../../protocol/envelope-v1.js';
import {
  addKeyOptions,
  parseKeyOptions,
  parseNonceOption,
  type RawKeyOptions,
  readInput,
  withUsageErrors,
} from '../key-options.js';

export interface SealSettings {
  nonce: number;
  encrypt: boolean;
  /** Each input line is one plaintext; nonces count up from `nonce`. */
  lines: boolean;
  keys: V1Keys;
}

export interface RawSealOptions extends RawKeyOptions {
  nonce: string;
  encrypt?: boolean;
  lines?: boolean;
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
  return plaintexts.map((plaintext, i) =>
    sealV1(plaintext, {
      nonce: (settings.nonce + i) % 2 ** 32,
      keys: settings.keys,
      encrypt: settings.encrypt,
    }),
  );
}

export function parseSealOptions(raw: RawSealOptions): SealSettings {
  return {
    nonce: parseNonceOption('--nonce', raw.nonce),
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
    .option('--nonce <n>', 'nonce of the (first) envelope', '10001')
    .option('--encrypt', 'AES-128-CBC encrypt the payload with the device padding quirk')
    .option('--lines', 'seal each input line as its own plaintext, nonces N, N+1, …');
  addKeyOptions(cmd).action(async (file: string | undefined, raw: RawSealOptions) => {
    const settings = await withUsageErrors(cmd, () => parseSealOptions(raw));
    const input = await withUsageErrors(cmd, () => readInput(file));
    const out = sealInput(input, settings);
    process.stdout.write(out.map((line) => `${line}\n`).join(''));
  });
}
