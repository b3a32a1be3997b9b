/**
 * `ecowatt decode`: decodes `compressed_binary` packets, one JSON object per stdin line:
 *   {"data": "<base64>", "length"?: <compressed_size_bytes>, "registers"?: [RegID, …]}
 * and prints one JSON line each: {"method","values","quality","notes","ambiguities"?} or
 * {"error","message"}; `ambiguities` lists, for a dictionary packet, each ambiguous position with
 * its byte and every candidate value.
 *
 * `--generation 1.3` (PROTOCOL-1.3.md §4): `registers` is the per-value RegID list (sample-major,
 * default the firmware's 3 × [0..9]), `length` a packet's compressed_size_bytes (a shorter
 * compressed_binary is `truncated`), and the lines are one device's packets in order: each line
 * advances a mirrored temporal context, so `0x71` deltas use the history of the lines before them.
 * An `0xAA` packet adds its "summary".
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { decodeDeviceCompressedBinary } from '../../protocol/codecs/decode-packet.js';
import { decodeCompressedBinary13, decodePacket13, Temporal13Context } from '../../protocol/gen13/index.js';
import { withUsageErrors } from '../key-options.js';
import { type CliGeneration, parseGenerationOption } from './seal.js';

export interface LineOutcome {
  readonly ok: boolean;
  readonly output: string;
}

function failure(error: string, message: string): LineOutcome {
  return { ok: false, output: JSON.stringify({ error, message }) };
}

function isRegisterList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((r) => Number.isInteger(r) && r >= 0 && r <= 255);
}

interface LineInput {
  readonly data: string;
  readonly length: number | undefined;
  readonly registers: number[] | undefined;
}

function readLine(line: string): LineInput | LineOutcome {
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
  return { data, length: length as number | undefined, registers };
}

function decodeOne(line: string): LineOutcome {
  const input = readLine(line);
  if ('output' in input) return input;
  const { data, length, registers } = input;
  const result = decodeDeviceCompressedBinary(data, length, { registers });
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

/** The 1.3 firmware's default batch: 3 samples of RegIDs 0..9 (PROTOCOL-1.3.md §3). */
const DEFAULT_REGISTERS13: readonly number[] = Array.from({ length: 30 }, (_, i) => i % 10);

/**
 * A 1.3 decoder for one device's packets in order. It starts knowing nothing of the device's
 * temporal history; every line moves it on, even one that fails to decode (the device's history
 * moved on regardless); a line that cannot even be read makes it forget.
 */
export class LineDecoder13 {
  readonly context = Temporal13Context.unknown();

  decodeLine(line: string): string {
    return this.decodeOne(line).output;
  }

  decodeOne(line: string): LineOutcome {
    const input = readLine(line);
    if ('output' in input) {
      this.context.forget();
      return input;
    }
    const registers = input.registers ?? [...DEFAULT_REGISTERS13];
    const bytes = decodeCompressedBinary13(input.data, input.length);
    if (!bytes.ok) {
      this.context.observe(registers, null);
      return failure(bytes.code, bytes.message);
    }
    const result = decodePacket13(bytes.bytes, { registers, context: this.context });
    if (!result.ok) return failure(result.code, result.message);
    const { method, values, quality, notes } = result;
    const out =
      result.summary === undefined
        ? { method, values, quality, notes }
        : { method, values, quality, notes, summary: result.summary };
    return { ok: true, output: JSON.stringify(out) };
  }
}

export function registerDecodeCommand(program: Command): void {
  const cmd = program
    .command('decode')
    .description(
      'decode compressed_binary packets: JSON lines {"data","length"?,"registers"?} on stdin, ' +
        'one JSON result per line on stdout; exit 1 if any line fails',
    )
    .option(
      '--generation <gen>',
      'firmware generation of the packets: e84f720, or 1.3 (registers per value; lines are one device in order)',
      'e84f720',
    );
  cmd.action(async (raw: { generation: string }) => {
    const generation: CliGeneration = await withUsageErrors(cmd, () => parseGenerationOption(raw.generation));
    const decoder13 = generation === '1.3' ? new LineDecoder13() : undefined;
    let failed = 0;
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const outcome = decoder13 ? decoder13.decodeOne(line) : decodeOne(line);
      if (!outcome.ok) failed++;
      process.stdout.write(`${outcome.output}\n`);
    }
    if (failed > 0) process.exitCode = 1;
  });
}
