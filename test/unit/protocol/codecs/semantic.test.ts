import { describe, expect, it } from 'vitest';
import { decodeSemantic, encodeSemantic, semanticTypeOf } from '../../../../src/protocol/codecs/semantic.js';
import { BATCH_POSITIONS } from '../../../../src/protocol/registers.js';
import { bytesOf, toHex, VECTORS } from './compression-fixture.js';

const semanticVectors = VECTORS.filter((v) => v.method === 'semantic_rle');
const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

describe('encodeSemantic (device compressWithSemanticRLE)', () => {
  it('has semantic vectors to check', () => {
    expect(semanticVectors.length).toBeGreaterThanOrEqual(4);
  });

  for (const v of semanticVectors) {
    it(`reproduces ${v.id}`, () => {
      expect(toHex(encodeSemantic(v.input_values, v.registers))).toBe(v.output_hex);
    });
  }

  it('caps runs at 255 members', () => {
    const n = 300;
    const regs = new Array(n).fill(0);
    const out = encodeSemantic(new Array(n).fill(7), regs);
    // header 3, group 2 + 300 positions (u8 wrap as on the device), runs 255 and 45
    expect(out.length).toBe(3 + 2 + n + 3 + 3);
    expect(out[1]).toBe(n & 0xff);
    expect(out[4]).toBe(n & 0xff);
    expect(Array.from(out.subarray(-6))).toEqual([7, 0, 255, 7, 0, 45]);
  });

  it('measures tolerance from the run head, not the previous value', () => {
    // VAC1 tolerance 10: 100, 108, 116 → 116 is 16 from the head, so it starts a new run.
    const out = encodeSemantic([100, 108, 116], [0, 0, 0]);
    expect(toHex(out)).toBe('5003010103000102640002740001');
  });

  it('maps unknown RegIDs to type 0 with tolerance 0', () => {
    expect(semanticTypeOf(42)).toBe(0);
    expect(toHex(encodeSemantic([5, 5, 6], [12, 12, 12]))).toBe('5003010003000102050002060001');
  });
});

describe('decodeSemantic', () => {
  for (const v of semanticVectors) {
    it(`decodes ${v.id} to faithful_decode with honest qualities`, () => {
      const r = decodeSemantic(bytesOf(v), v.registers.length, v.registers);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.method).toBe('semantic_rle');
      expect(r.values).toEqual(v.faithful_decode);
      r.quality.forEach((q, i) => {
        if (q === 'exact') expect(r.values[i]).toBe(v.input_values[i]);
        expect(q).not.toBe('missing');
      });
    });
  }

  it('marks 2-byte heads exact, members approximate and 1-byte types approximate', () => {
    // direct-semantic-single: IPV2 (position 4) is a member of the IPV1 run.
    const r = decodeSemantic(hexBytes('5006050101007d0901020101b101050202044902070103eb10010601055d0201'), 6);
    expect(r.ok && r.quality).toEqual([
      'exact',
      'approximate',
      'approximate',
      'exact',
      'approximate',
      'exact',
    ]);
  });

  it('keeps type-0 run members exact (tolerance 0)', () => {
    const r = decodeSemantic(encodeSemantic([5, 5, 6], [12, 12, 12]), 3);
    expect(r.ok && r.values).toEqual([5, 5, 6]);
    expect(r.ok && r.quality).toEqual(['exact', 'exact', 'exact']);
  });

  it('decodes a batch of zeros with the batch layout', () => {
    const zeros = new Array(30).fill(0);
    const r = decodeSemantic(encodeSemantic(zeros, BATCH_POSITIONS), 30, BATCH_POSITIONS);
    expect(r.ok && r.values).toEqual(zeros);
  });

  it('accepts an empty packet for n = 0', () => {
    const r = decodeSemantic(hexBytes('500000'), 0);
    expect(r).toMatchObject({ ok: true, values: [], quality: [] });
  });

  it('reports positions no group covers as missing', () => {
    // n = 3, one VAC1 group covering positions 0 and 2 only.
    const r = decodeSemantic(hexBytes('50 03 01 01 02 00 02 6400 02'), 3);
    expect(r.ok && r.values).toEqual([100, null, 100]);
    expect(r.ok && r.quality).toEqual(['exact', 'missing', 'approximate']);
  });

  const errors: [name: string, hex: string, count: number, code: string][] = [
    ['truncated header', '5006', 6, 'truncated'],
    ['wrong marker', '510100', 1, 'unknown_marker'],
    ['count mismatch', '500100', 2, 'bad_count'],
    ['unknown type id', '50 01 01 08 01 00 6400 01', 1, 'bad_value'],
    ['position out of range', '50 01 01 01 01 05 6400 01', 1, 'bad_value'],
    ['duplicated position', '50 02 02 01 01 00 6400 01 02 01 00 05 01', 2, 'bad_value'],
    ['duplicated type', '50 02 02 01 01 00 6400 01 01 01 01 6400 01', 2, 'bad_value'],
    ['positions not ascending', '50 02 01 01 02 01 00 6400 02', 2, 'bad_value'],
    ['run overflows the group', '50 01 01 01 01 00 6400 02', 1, 'bad_value'],
    ['run of zero', '50 01 01 01 01 00 6400 00', 1, 'bad_value'],
    ['run cut short', '50 01 01 01 01 00 6400', 1, 'truncated'],
    ['group header cut short', '50 01 01 01', 1, 'truncated'],
    ['positions cut short', '50 02 01 01 02 00', 2, 'truncated'],
    ['trailing bytes', '50 01 01 01 01 00 6400 01 ff', 1, 'trailing_bytes'],
    ['too many groups', '500109', 1, 'bad_value'],
    ['empty group', '50 01 01 01 00', 1, 'bad_value'],
  ];
  for (const [name, hex, count, code] of errors) {
    it(`rejects ${name}`, () => {
      const r = decodeSemantic(hexBytes(hex), count);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe(code);
    });
  }

  it('rejects a stream whose types disagree with the caller registers', () => {
    const bytes = encodeSemantic([2400, 170], [0, 1]);
    const r = decodeSemantic(bytes, 2, [1, 0]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('bad_value');
  });
});
