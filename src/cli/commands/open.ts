/**
 * `ecowatt open`: verifies and decrypts v1 envelopes, one JSON envelope per input line. Firmware
 * 1.3 envelopes are v1 with a fifth key, `"compressed":false` (PROTOCOL-1.3.md §2), and open the
 * same way; a `compressed` that is not false is refused as malformed.
 */
import type { Command } from 'commander';
import { isJsonObject, openV1, parseV1Envelope, type V1Keys } from '../../protocol/envelope-v1.js';
import { isV2Envelope } from '../../protocol/envelope-v2.js';
import { parse13Envelope } from '../../protocol/gen13/index.js';
import {
  addKeyOptions,
  parseKeyOptions,
  type RawKeyOptions,
  readInput,
  withUsageErrors,
} from '../key-options.js';

export interface OpenLineResult {
  ok: boolean;
  /** The JSON line to print. */
  output: string;
}

// ignoreBOM keeps a leading U+FEFF: the plaintext is shown as signed, not tidied.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function failure(error: string, message: string): OpenLineResult {
  return { ok: false, output: JSON.stringify({ ok: false, error, message }) };
}

/**
 * Opens one envelope line. The operator holds the keys, so unlike the HTTP answer the message
 * names the exact reason.
 */
export function openLine(line: string, keys: readonly V1Keys[]): OpenLineResult {
  let body: unknown;
  try {
    body = JSON.parse(line);
  } catch {
    return failure('malformed_json', 'line is not JSON');
  }
  if (isV2Envelope(body))
    return failure('malformed_envelope', 'this is a v2 envelope; open reads v1 envelopes');
  const parsed =
    isJsonObject(body) && Object.hasOwn(body, 'compressed') ? parse13Envelope(body) : parseV1Envelope(body);
  if (!parsed.ok) return failure(parsed.code, parsed.message);
  const opened = openV1(parsed.envelope, keys);
  if (!opened.ok) return failure(opened.code, `authentication failed (${opened.reason})`);
  let text: string | undefined;
  try {
    text = utf8.decode(opened.plaintext);
  } catch {
    text = undefined;
  }
  // Invalid UTF-8 is shown in hex too, since the text form would hide the real bytes.
  const result =
    text === undefined
      ? {
          ok: true,
          nonce: opened.nonce,
          plaintext: opened.plaintext.toString('utf8'),
          plaintext_hex: opened.plaintext.toString('hex'),
        }
      : { ok: true, nonce: opened.nonce, plaintext: text };
  return { ok: true, output: JSON.stringify(result) };
}

/** Every non-blank line (LF or CRLF) is one envelope. */
export function openLines(text: string, keys: readonly V1Keys[]): { lines: string[]; failed: number } {
  const lines: string[] = [];
  let failed = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const result = openLine(line, keys);
    if (!result.ok) failed++;
    lines.push(result.output);
  }
  return { lines, failed };
}

export function registerOpenCommand(program: Command): void {
  const cmd = program
    .command('open')
    .description(
      'verify and decrypt v1 envelopes, e84f720 or firmware 1.3 (one JSON envelope per line); exit 1 if any fails',
    )
    .argument('[file]', 'file of envelope lines (default or "-": stdin)');
  addKeyOptions(cmd).action(async (file: string | undefined, raw: RawKeyOptions) => {
    const keys = await withUsageErrors(cmd, () => parseKeyOptions(raw));
    const input = await withUsageErrors(cmd, () => readInput(file));
    const { lines, failed } = openLines(input.toString('utf8'), [keys]);
    process.stdout.write(lines.map((line) => `${line}\n`).join(''));
    if (failed > 0) process.exitCode = 1;
  });
}
