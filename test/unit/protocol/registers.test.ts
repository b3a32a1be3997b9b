/** Register scaling: the fast path gives exactly what rounding to the register's decimals gives. */
import { describe, expect, it } from 'vitest';
import { REGISTERS, scaleRaw } from '../../../src/protocol/registers.js';

describe('scaleRaw', () => {
  it('equals the value rounded to the register decimals, for every register and 16-bit raw value', () => {
    for (const reg of REGISTERS) {
      const decimals = Math.round(Math.log10(reg.divisor));
      let mismatches = 0;
      for (let raw = 0; raw <= 0xffff; raw++) {
        const expected = Number(((raw * reg.multiplier) / reg.divisor).toFixed(decimals));
        if (scaleRaw(reg, raw) !== expected) mismatches++;
      }
      expect({ register: reg.name, mismatches }).toEqual({ register: reg.name, mismatches: 0 });
    }
  });

  it('scales the field examples', () => {
    const [vac1, , fac1] = REGISTERS;
    expect(scaleRaw(vac1, 2429)).toBe(242.9);
    expect(scaleRaw(fac1, 5002)).toBe(50.02);
  });
});
