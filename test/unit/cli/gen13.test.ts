/** `ecowatt decode|seal|open` with firmware 1.3 packets and envelopes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeLine, LineDecoder13, registerDecodeCommand } from '../../../src/cli/commands/decode.js';
import { openLine, openLines, registerOpenCommand } from '../../../src/cli/commands/open.js';
import { parseSealOptions, registerSealCommand, sealInput } from '../../../src/cli/commands/seal.js';
import { UsageError } from '../../../src/cli/key-options.js';
import { FIELD_KEYS } from '../../../src/protocol/envelope-v1.js';
import { COMPRESSION, ENVELOPES, sequence } from '../protocol/gen13/fixtures.js';

const line = (v: { output_base64: string; output_len: number; registers: number[] }) =>
  JSON.stringify({ data: v.output_base64, length: v.output_len, registers: v.registers });

describe('decode --generation 1.3 (line functions)', () => {
  it('decodes a device’s lines in order: deltas use the history of earlier lines', () => {
    const decoder = new LineDecoder13();
    for (const v of sequence('seq-smart-1x3')) {
      const out = JSON.parse(decoder.decodeLine(line(v)));
      expect(Object.keys(out)).toEqual(['method', 'values', 'quality', 'notes']);
      expect(out.values).toEqual(v.faithful_decode);
      expect(out.quality).toEqual(new Array(3).fill('exact'));
    }
    const delta = sequence('seq-smart-1x3')[8];
    expect(JSON.parse(new LineDecoder13().decodeLine(line(delta)))).toEqual({
      error: 'no_context',
      message: expect.any(String),
    });
  });

  it('defaults to the firmware’s 3 × 10 batch and reports each format by its wire name', () => {
    const decoder = new LineDecoder13();
    const batch = COMPRESSION.find((v) => v.id === 'batch-3x10-default');
    if (!batch) throw new Error('vector missing');
    expect(JSON.parse(decoder.decodeLine(JSON.stringify({ data: batch.output_base64 })))).toMatchObject({
      method: 'bitpacked',
      values: batch.input_values,
    });
    const methods = ['single-zeros', 'semantic-direct-5x3', 'seq-temporal-1x3-00'].map((id) => {
      const v = COMPRESSION.find((x) => x.id === id);
      if (!v) throw new Error(id);
      return JSON.parse(new LineDecoder13().decodeLine(line(v))).method;
    });
    expect(methods).toEqual(['dictionary_float', 'semantic_rle', 'temporal_base']);
  });

  it('adds the summary of an 0xAA packet', () => {
    const v = COMPRESSION.find((x) => x.id === 'agg-full-5x3');
    if (!v) throw new Error('vector missing');
    const out = JSON.parse(new LineDecoder13().decodeLine(line(v)));
    expect(out.method).toBe('aggregation');
    expect(out.summary).toMatchObject({
      mode: 2,
      sampleCount: 5,
      min: [2429, 173, 4331],
      avg: [2431, 175, 4337],
    });
    expect(out.values).toEqual(new Array(15).fill(null));
  });

  const failures: [string, string, string][] = [
    ['malformed JSON', '{"data": ', 'malformed_json'],
    ['missing data', '{}', 'bad_input'],
    ['bad registers', '{"data": "AQgBAA==", "registers": [256]}', 'bad_input'],
    ['bad base64', '{"data": "AQ*D", "registers": [0]}', 'bad_base64'],
    ['a cut compressed_binary', '{"data": "AQgBAA==", "length": 5, "registers": [0]}', 'truncated'],
    ['bytes beyond the length', '{"data": "AQgBAA==", "length": 3, "registers": [0]}', 'trailing_bytes'],
    ['a count that does not fit', '{"data": "AQgBAA==", "registers": [0, 1]}', 'bad_count'],
    ['an unknown marker', '{"data": "AAgBAA==", "registers": [0]}', 'unknown_marker'],
  ];
  for (const [name, input, code] of failures) {
    it(`reports ${name} as ${code}`, () => {
      expect(JSON.parse(new LineDecoder13().decodeLine(input))).toEqual({
        error: code,
        message: expect.any(String),
      });
    });
  }

  it('a line that cannot be read makes the decoder forget the device’s history', () => {
    const decoder = new LineDecoder13();
    const steps = sequence('seq-smart-1x3');
    for (const v of steps.slice(0, 8)) decoder.decodeLine(line(v));
    decoder.decodeLine('not json');
    expect(JSON.parse(decoder.decodeLine(line(steps[8]))).error).toBe('no_context');
  });

  it('leaves the default generation alone', () => {
    const v = COMPRESSION.find((x) => x.id === 'single-zeros');
    if (!v) throw new Error('vector missing');
    // e84f720 reads 0xD0 as its pattern dictionary: whatever it says, it is not the 1.3 reading.
    expect(JSON.parse(decodeLine(line(v))).method).not.toBe('dictionary_float');
  });
});

describe('seal --generation 1.3 and open (line functions)', () => {
  it('seals every 1.3 envelope vector byte for byte and opens it', () => {
    for (const v of ENVELOPES) {
      const settings = parseSealOptions({ generation: '1.3', nonce: String(v.nonce) });
      expect(sealInput(Buffer.from(v.plaintext_json), settings)).toEqual([v.envelope_json]);
      expect(JSON.parse(openLine(v.envelope_json, [FIELD_KEYS]).output)).toEqual({
        ok: true,
        nonce: v.nonce,
        plaintext: v.plaintext_json,
      });
    }
  });

  it('defaults to nonce 11001, counts and wraps with --lines, refuses --encrypt and unknown generations', () => {
    expect(parseSealOptions({ generation: '1.3' })).toMatchObject({
      nonce: 11001,
      encrypt: false,
      generation: '1.3',
    });
    expect(parseSealOptions({})).toEqual({ nonce: 10001, encrypt: false, lines: false, keys: FIELD_KEYS });
    const out = sealInput(Buffer.from('{"a":1}\n{"a":1}\n'), {
      ...parseSealOptions({ generation: '1.3', nonce: '4294967295' }),
      lines: true,
    });
    expect(out.map((l) => JSON.parse(l).nonce)).toEqual([4294967295, 0]);
    expect(out[1]).toBe(ENVELOPES.find((v) => v.id === 'nonce-max-next')?.envelope_json);
    expect(() => parseSealOptions({ generation: '1.3', encrypt: true })).toThrow(UsageError);
    expect(() => parseSealOptions({ generation: '2.0' })).toThrow(/--generation/);
  });

  it('open refuses a compressed or encrypted 1.3 envelope as malformed', () => {
    const good = JSON.parse(ENVELOPES[0].envelope_json);
    const { lines, failed } = openLines(
      [
        JSON.stringify({ ...good, compressed: true }),
        JSON.stringify({ ...good, compressed: 0 }),
        ENVELOPES[0].envelope_json,
      ].join('\n'),
      [FIELD_KEYS],
    );
    expect(failed).toBe(2);
    expect(lines.map((l) => JSON.parse(l).error ?? 'ok')).toEqual([
      'malformed_envelope',
      'malformed_envelope',
      'ok',
    ]);
  });
});

describe('commander wiring (no process spawned)', () => {
  let dir: string;
  let stdout: string[];
  let stderr: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecowatt-gen13-'));
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  });

  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
    process.exitCode = undefined;
  });

  function program(): Command {
    const p = new Command()
      .exitOverride()
      .configureOutput({ writeErr: (s) => stderr.push(s), writeOut: () => {} });
    registerDecodeCommand(p);
    registerSealCommand(p);
    registerOpenCommand(p);
    return p;
  }

  it('decode --generation 1.3 reads stdin lines as one device in order', async () => {
    const steps = sequence('seq-smart-1x3');
    const input = `${steps.map(line).join('\n')}\n\n`;
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(
      Readable.from([input]) as unknown as typeof process.stdin,
    );
    await program().parseAsync(['decode', '--generation', '1.3'], { from: 'user' });
    const out = stdout
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out.map((o) => o.values)).toEqual(steps.map((v) => v.faithful_decode));
    expect(out.map((o) => o.method).slice(7, 10)).toEqual(['bitpacked', 'temporal_delta', 'temporal_delta']);
    expect(process.exitCode).toBeUndefined();
  });

  it('seal --generation 1.3 writes the firmware’s envelope; open reads it back', async () => {
    const v = ENVELOPES.find((x) => x.id === 'nvs-20000');
    if (!v) throw new Error('fixture missing');
    const file = join(dir, 'p.json');
    writeFileSync(file, v.plaintext_json);
    await program().parseAsync(['seal', file, '--generation', '1.3', '--nonce', String(v.nonce)], {
      from: 'user',
    });
    expect(stdout.join('')).toBe(`${v.envelope_json}\n`);
    stdout.length = 0;
    const envelopes = join(dir, 'e.jsonl');
    writeFileSync(envelopes, `${v.envelope_json}\n`);
    await program().parseAsync(['open', envelopes], { from: 'user' });
    expect(JSON.parse(stdout.join(''))).toEqual({ ok: true, nonce: v.nonce, plaintext: v.plaintext_json });
  });

  it('an unknown generation or --encrypt with 1.3 is a usage error (exit code 2)', async () => {
    for (const args of [
      ['decode', '--generation', '1.4'],
      ['seal', '--generation', '1.3', '--encrypt'],
      ['seal', '--generation', 'field'],
    ]) {
      const run = program().parseAsync(args, { from: 'user' });
      await expect(run).rejects.toBeInstanceOf(CommanderError);
      await expect(run).rejects.toMatchObject({ exitCode: 2 });
    }
    expect(stderr.join('')).toMatch(/--generation/);
    expect(stderr.join('')).toMatch(/never encrypts/);
  });
});
