/**
 * `ecowatt decode`: decodes `compressed_binary` packets, one JSON object per stdin line:
 *   {"data": "<base64>", "length"?: <compressed_size_bytes>, "registers"?: [RegID, …]}
 * and prints one JSON line each: {"method","values","quality","notes","ambiguities"?} or
 * {"error","message"}; `ambiguities` lists, for a dictionary packet, each ambiguous position with
 * its byte and every candidate value.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { decodeDeviceCompressedBinary } from '../../protocol/codecs/decode-packet.js';

interface LineOutcome {
  readonly ok: boolean;
  readonly output: string;
}

function failure(error: string, message: string): LineOutcome {
  return { ok: false, output: JSON.stringify({ error, message }) };
}

function isRegisterList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((r) => Number.isInteger(r) && r >= 0 && r <= 255);
}

function decodeOne(line: string): LineOutcome {
  let input: unknown;
  try {
    input = JSON.parse(line);
  } catch {
    return failure('malformed_json', 'line is not JSON');
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return failure('bad_input', 'line must be a JSON object');
  }
  const { data, length, registers } = input as Record<string, unknown>;
  if (typeof data !== 'string') return failure('bad_input', '"data" must be a base64 string');
  if (length !== undefined && !(Number.isInteger(length) && (length as number) >= 0)) {
    return failure('bad_input', '"length" must be a non-negative integer');
  }
  if (registers !== undefined && !isRegisterList(registers)) {
    return failure('bad_input', '"registers" must be an array of RegIDs (integers 0..255)');
  }
  const result = decodeDeviceCompressedBinary(data, length as number | undefined, { registers });
  if (!result.ok) return failure(result.code, result.message);
  const { method, values, quality, notes } = result;
  // Dictionary packets: every candidate of each ambiguous one-byte delta (the stored note names
  // only the positions).
  const ambiguities = 'ambiguities' in result && Array.isArray(result.ambiguities) ? result.ambiguities : [];
  const out =
    ambiguities.length > 0
      ? { method, values, quality, notes, ambiguities }
      : { method, values, quality, notes };
  return { ok: true, output: JSON.stringify(out) };
}

/** One input line → one output line (no trailing newline). */
export function decodeLine(line: string): string {
  return decodeOne(line).output;
}

export function registerDecodeCommand(program: Command): void {
  program
    .command('decode')
    .description(
      'decode compressed_binary packets: JSON lines {"data","length"?,"registers"?} on stdin, ' +
        'one JSON result per line on stdout; exit 1 if any line fails',
    )
    .action(async () => {
      let failed = 0;
      const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const outcome = decodeOne(line);
        if (!outcome.ok) failed++;
        process.stdout.write(`${outcome.output}\n`);
      }
      if (failed > 0) process.exitCode = 1;
    });
}
