/**
 * Option and input handling shared by the envelope commands (`seal`, `open`). Bad values are usage
 * errors: they exit with code 2 and name the option, so a typo in a key is never mistaken for an
 * authentication failure.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { FIELD_KEYS, type V1Keys } from '../protocol/envelope-v1.js';

export class UsageError extends Error {}

export interface RawKeyOptions {
  hmacKey?: string;
  aesKey?: string;
  iv?: string;
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** Adds --hmac-key, --aes-key and --iv; each defaults to the field value (PROTOCOL.md §2.5). */
export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('--hmac-key <hex>', 'HMAC-SHA256 key in hex (default: the field key)')
    .option('--aes-key <hex>', 'AES-128 key in hex, 16 bytes (default: the field key)')
    .option('--iv <hex>', 'AES-CBC IV in hex, 16 bytes (default: the field IV)');
}

export function parseHexOption(option: string, value: string, byteLength?: number): Buffer {
  if (!HEX.test(value))
    throw new UsageError(`${option}: expected an even number of hex digits, got "${value}"`);
  const bytes = Buffer.from(value, 'hex');
  if (byteLength !== undefined && bytes.length !== byteLength) {
    throw new UsageError(
      `${option}: expected ${byteLength} bytes (${byteLength * 2} hex digits), got ${bytes.length}`,
    );
  }
  return bytes;
}

/** Missing options fall back to the field keys one by one, so `--hmac-key` alone keeps the field AES key. */
export function parseKeyOptions(raw: RawKeyOptions): V1Keys {
  return {
    hmacKey: raw.hmacKey === undefined ? FIELD_KEYS.hmacKey : parseHexOption('--hmac-key', raw.hmacKey),
    aesKey: raw.aesKey === undefined ? FIELD_KEYS.aesKey : parseHexOption('--aes-key', raw.aesKey, 16),
    iv: raw.iv === undefined ? FIELD_KEYS.iv : parseHexOption('--iv', raw.iv, 16),
  };
}

/** A v1 nonce in decimal (0..2^32-1); no signs, exponents or hex, which would hide typos. */
export function parseNonceOption(option: string, value: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n <= 0xffff_ffff))
    throw new UsageError(`${option}: expected an integer 0..4294967295, got "${value}"`);
  return n;
}

/** Reads the named file, or stdin for no name or `-`. */
export async function readInput(file: string | undefined): Promise<Buffer> {
  if (file !== undefined && file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Runs `fn`; a UsageError becomes a commander error with exit code 2 (message on stderr). */
export async function withUsageErrors<T>(cmd: Command, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) cmd.error(`error: ${err.message}`, { exitCode: 2, code: 'ecowatt.usage' });
    throw err;
  }
}
