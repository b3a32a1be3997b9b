import { describe, expect, it } from 'vitest';
import {
  DEVICE_PATTERNS,
  decodeDictionary,
  encodeDictionary,
  findClosestPattern,
  oneByteDeltaCandidates,
} from '../../../../src/protocol/codecs/dictionary.js';
import { BATCH_POSITIONS } from '../../../../src/protocol/registers.js';
import { API, ambiguousByteNotes, bytesOf, toHex, VECTORS } from './compression-fixture.js';

const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** The device's one-byte form, to check the candidate lists against the encoder's formula. */
const oneByte = (d: number) => 0x80 | (d & 0x7f) | (d < 0 ? 0x40 : 0);

describe('DEVICE_PATTERNS', () => {
  it('holds the 4 built-in patterns indexed by RegID', () => {
    expect(DEVICE_PATTERNS).toHaveLength(4);
    for (const p of DEVICE_PATTERNS) expect(p).toHaveLength(10);
    expect(DEVICE_PATTERNS[0][9]).toBe(4200); // PAC, not POW
    expect(DEVICE_PATTERNS[3][5]).toBe(70); // IPV1 of pattern 3
  });
});

describe('encodeDictionary (device compressWithDictionary)', () => {
  const direct = VECTORS.filter((v) => v.api === API.dictionary);
  it('has direct vectors', () => expect(direct.length).toBeGreaterThanOrEqual(7));
  for (const v of direct) {
    it(`reproduces ${v.id}`, () => {
      expect(toHex(encodeDictionary(v.input_values, v.registers))).toBe(v.output_hex);
    });
  }

  // Fresh smart/batch vectors that went out as D0 used the built-in table only.
  for (const v of VECTORS.filter((x) => x.state === 'fresh' && x.output_hex.startsWith('d0'))) {
    it(`matches the D0 bytes of ${v.id}`, () => {
      expect(toHex(encodeDictionary(v.input_values, v.registers))).toBe(v.output_hex);
    });
  }

  it('accepts a pattern only while floor(dist / n) < 200', () => {
    // IAC1 column: 170, 100, 200, 165.
    expect(findClosestPattern([399], [1], DEVICE_PATTERNS)).toBe(2);
    expect(findClosestPattern([400], [1], DEVICE_PATTERNS)).toBe(-1);
    expect(findClosestPattern([399, 400], [1, 1], DEVICE_PATTERNS)).toBe(2); // 399 / 2 → 199
    expect(findClosestPattern([400, 400], [1, 1], DEVICE_PATTERNS)).toBe(-1);
    // Ties go to the first pattern: 185 is 15 from both 170 and 200.
    expect(findClosestPattern([185], [1], DEVICE_PATTERNS)).toBe(0);
  });

  it('reinterprets values as i16 and escapes deltas beyond ±127', () => {
    // 400 VAC1 values keep the mean distance below 200 despite one 65535: (i16)65535 − 2400 = −2401.
    const values = new Array(400).fill(2400);
    values[0] = 65535;
    const out = encodeDictionary(values, new Array(400).fill(0));
    expect(toHex(out)).toBe('d00090010000' + '9ff6');
  });

  it('appends deltas beyond position 16 without flagging them', () => {
    const values = BATCH_POSITIONS.map((r) => DEVICE_PATTERNS[0][r]);
    values[20] += 3;
    expect(toHex(encodeDictionary(values, BATCH_POSITIONS))).toBe('d0001e000083');
  });
});

describe('oneByteDeltaCandidates', () => {
  it('lists exactly the deltas the device maps to each byte', () => {
    const byByte = new Map<number, number[]>();
    for (let d = -127; d <= 127; d++) {
      if (d === 0) continue;
      const b = oneByte(d);
      byByte.set(b, [...(byByte.get(b) ?? []), d]);
    }
    for (let b = 0x80; b <= 0xff; b++) {
      const expected = (byByte.get(b) ?? []).sort((x, y) => x - y);
      const got = oneByteDeltaCandidates(b).sort((x, y) => x - y);
      // 0x80 is never written (delta 0 has no entry) but reads as 0.
      if (b === 0x80) expect(got).toEqual([0]);
      else expect(got).toEqual(expected);
    }
  });

  it('puts the 7-bit two-complement reading first', () => {
    expect(oneByteDeltaCandidates(0xff)).toEqual([-1, 127, -65]);
    expect(oneByteDeltaCandidates(0xc0)).toEqual([-64, 64]);
    expect(oneByteDeltaCandidates(0xbf)).toEqual([63]);
  });
});

describe('decodeDictionary', () => {
  for (const v of VECTORS.filter((x) => x.method === 'dictionary')) {
    it(`decodes ${v.id}`, () => {
      const r = decodeDictionary(bytesOf(v), v.registers);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.method).toBe('dictionary');
      if (v.faithful_decode === null) {
        expect(r.values.every((x) => x === null)).toBe(true);
        expect(r.quality.every((q) => q === 'missing')).toBe(true);
        expect(r.notes.join(' ')).toMatch(/learned dictionary entry/);
        return;
      }
      const ambiguous = new Set(r.ambiguities.map((a) => a.position));
      expect(ambiguous.size).toBe(ambiguousByteNotes(v));
      r.values.forEach((value, i) => {
        if (r.quality[i] === 'exact') expect(value).toBe(v.input_values[i]);
        if (ambiguous.has(i)) {
          expect(r.quality[i]).toBe('ambiguous');
          const a = r.ambiguities.find((x) => x.position === i);
          expect(a?.candidates).toContain(value);
          expect(a?.candidates).toContain(v.input_values[i]);
          expect(a?.candidates[0]).toBe(v.faithful_decode?.[i]);
        } else {
          expect(value).toBe(v.faithful_decode?.[i]);
        }
      });
    });
  }

  it('resolves ambiguous batch deltas from the neighbouring samples', () => {
    const v = VECTORS.find((x) => x.id === 'batch-noisy-typical');
    if (!v) throw new Error('vector missing');
    const r = decodeDictionary(bytesOf(v), v.registers);
    expect(r.ok && r.values).toEqual(v.input_values);
  });

  it('keeps the 7-bit reading when no sample can tell', () => {
    const r = decodeDictionary(hexBytes('d000063f0081bfc0ffffc0'), [0, 1, 5, 9, 6, 7]);
    expect(r.ok && r.values).toEqual([2401, 233, 6, 4199, 64, 486]);
    expect(r.ok && r.quality).toEqual(['exact', 'exact', 'ambiguous', 'ambiguous', 'ambiguous', 'ambiguous']);
  });

  it('places positions ≥ 16 when none of them has a delta', () => {
    const r = decodeDictionary(hexBytes('d0001e0000'), BATCH_POSITIONS);
    expect(r.ok && r.values).toEqual(BATCH_POSITIONS.map((reg) => DEVICE_PATTERNS[0][reg]));
    expect(r.ok && r.quality.every((q) => q === 'exact')).toBe(true);
  });

  it('marks positions ≥ 16 missing when only some of them had a delta', () => {
    const values = BATCH_POSITIONS.map((reg) => DEVICE_PATTERNS[0][reg]);
    values[20] += 3;
    values[1] -= 2;
    const r = decodeDictionary(encodeDictionary(values, BATCH_POSITIONS), BATCH_POSITIONS);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.values.slice(0, 16)).toEqual(values.slice(0, 16));
    expect(r.values.slice(16)).toEqual(new Array(14).fill(null));
    expect(r.quality.slice(16)).toEqual(new Array(14).fill('missing'));
    expect(r.quality[1]).toBe('ambiguous');
  });

  it('reports a learned pattern as missing values, not an error', () => {
    const r = decodeDictionary(hexBytes('d00406010081'), [0, 1, 5, 9, 6, 7]);
    expect(r).toMatchObject({ ok: true, values: new Array(6).fill(null) });
  });

  it('reads escapes as exact i16 deltas mod 2^16', () => {
    const r = decodeDictionary(hexBytes('d000060200' + '0055ff'), [0, 1, 5, 9, 6, 7]);
    expect(r.ok && r.values).toEqual([2400, 65535, 70, 4200, 65, 550]);
    expect(r.ok && r.quality.every((q) => q === 'exact')).toBe(true);
  });

  const errors: [name: string, hex: string, code: string][] = [
    ['short header', 'd00006', 'truncated'],
    ['wrong marker', 'd1000600' + '00', 'unknown_marker'],
    ['count mismatch', 'd000050000', 'bad_count'],
    ['mask beyond n', 'd000064000', 'bad_value'],
    ['missing deltas', 'd000060300' + '81', 'truncated'],
    ['escape cut short', 'd000060100' + '0001', 'truncated'],
    ['stray byte', 'd000060100' + '05', 'bad_value'],
    ['extra delta for n ≤ 16', 'd000060100' + '8181', 'trailing_bytes'],
  ];
  for (const [name, hex, code] of errors) {
    it(`rejects ${name}`, () => {
      const r = decodeDictionary(hexBytes(hex), [0, 1, 5, 9, 6, 7]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe(code);
    });
  }

  it('rejects more leftover deltas than unflagged positions', () => {
    const bytes = hexBytes(`d0001effff${'81'.repeat(16 + 15)}`);
    const r = decodeDictionary(bytes, BATCH_POSITIONS);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('trailing_bytes');
  });
});
