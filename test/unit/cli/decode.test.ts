import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { decodeLine, registerDecodeCommand } from '../../../src/cli/commands/decode.js';
import { VECTORS } from '../protocol/codecs/compression-fixture.js';

const run = (input: unknown) =>
  JSON.parse(decodeLine(typeof input === 'string' ? input : JSON.stringify(input)));
const SINGLE = [0, 1, 5, 9, 6, 7];

describe('decodeLine', () => {
  it('decodes a batch packet with the default 30-value layout', () => {
    const v = VECTORS.find((x) => x.id === 'batch-flat-typical');
    if (!v) throw new Error('vector missing');
    const out = run({ data: v.device_compressed_binary, length: v.output_len });
    expect(out).toEqual({
      method: 'dictionary',
      values: v.input_values,
      quality: new Array(30).fill('exact'),
      notes: expect.any(Array),
    });
  });

  it('accepts standard base64 and the device variant, with or without a length', () => {
    const v = VECTORS.find((x) => x.id === 'smart-single-pattern0-exact');
    if (!v) throw new Error('vector missing');
    const expected = { method: 'dictionary', values: v.input_values };
    expect(run({ data: v.device_compressed_binary, length: v.output_len, registers: SINGLE })).toMatchObject(
      expected,
    );
    expect(run({ data: v.device_compressed_binary, registers: SINGLE })).toMatchObject(expected);
    expect(
      run({ data: Buffer.from(v.output_hex, 'hex').toString('base64'), registers: SINGLE }),
    ).toMatchObject(expected);
  });

  it('prints exactly the four result fields, null for missing values', () => {
    const out = run({ data: '0AQGAAAA', length: 5, registers: SINGLE });
    expect(Object.keys(out)).toEqual(['method', 'values', 'quality', 'notes']);
    expect(out.values).toEqual(new Array(6).fill(null));
    expect(out.quality).toEqual(new Array(6).fill('missing'));
  });

  it('reports ambiguous dictionary deltas', () => {
    const out = run({ data: '0AAGJAD//w==', registers: SINGLE });
    expect(out.values).toEqual([2400, 170, 69, 4200, 65, 549]);
    expect(out.quality).toEqual(['exact', 'exact', 'ambiguous', 'exact', 'exact', 'ambiguous']);
  });

  it('decodes an empty packet for an empty layout', () => {
    expect(run({ data: '', registers: [] })).toEqual({ method: 'empty', values: [], quality: [], notes: [] });
  });

  const failures: [name: string, line: string, code: string][] = [
    ['malformed JSON', '{"data": ', 'malformed_json'],
    ['a JSON array', '[1,2]', 'bad_input'],
    ['a JSON string', '"0AAGAAAA"', 'bad_input'],
    ['null', 'null', 'bad_input'],
    ['missing data', '{}', 'bad_input'],
    ['numeric data', '{"data": 12}', 'bad_input'],
    ['string length', '{"data": "0AAGAAAA", "length": "5"}', 'bad_input'],
    ['negative length', '{"data": "0AAGAAAA", "length": -1}', 'bad_input'],
    ['fractional length', '{"data": "0AAGAAAA", "length": 4.5}', 'bad_input'],
    ['registers not an array', '{"data": "0AAGAAAA", "registers": 6}', 'bad_input'],
    ['register out of range', '{"data": "0AAGAAAA", "registers": [0, 256]}', 'bad_input'],
    ['register not an integer', '{"data": "0AAGAAAA", "registers": ["VAC1"]}', 'bad_input'],
    ['bad base64', '{"data": "0AAG*AAA"}', 'bad_base64'],
    ['length beyond the data', '{"data": "0AAGAAAA", "length": 9, "registers": [0,1,5,9,6,7]}', 'truncated'],
    ['empty data for 30 values', '{"data": ""}', 'empty'],
    ['count mismatch', '{"data": "0AAGAAAA", "length": 5}', 'bad_count'],
    ['0x71 without context', '{"data": "cQbCgICAgIA=", "registers": [0,1,5,9,6,7]}', 'no_context'],
  ];
  for (const [name, line, code] of failures) {
    it(`reports ${name} as ${code}`, () => {
      const out = JSON.parse(decodeLine(line));
      expect(out).toEqual({ error: code, message: expect.any(String) });
    });
  }

  it('decodes every field vector the server can decode without state', () => {
    for (const v of VECTORS) {
      const out = run({ data: v.device_compressed_binary, length: v.output_len, registers: v.registers });
      if (v.method === 'temporal_delta') expect(out.error).toBe('no_context');
      else expect(`${v.id}: ${out.method}`).toBe(`${v.id}: ${v.method}`);
    }
  });

  it('prints one line', () => {
    expect(decodeLine('{"data": "0AAGAAAA", "length": 5, "registers": [0,1,5,9,6,7]}')).not.toContain('\n');
  });
});

describe('registerDecodeCommand', () => {
  it('adds the decode sub-command', () => {
    const program = new Command();
    registerDecodeCommand(program);
    expect(program.commands.map((c) => c.name())).toContain('decode');
  });
});
