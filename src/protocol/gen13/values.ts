/**
 * Helpers every 1.3 codec shares: input checks for the encoders and small bit utilities.
 *
 * The encoders are for simulators, so input the firmware can never be handed (a value outside
 * u16, a register outside 0..9, lengths that differ) is a programmer error and throws; the
 * decoders never throw.
 */
import type { Quality } from '../codecs/types.js';

/** RegIDs 0..9 (acquisition.h): also the width of the firmware's per-register tables. */
export const REGISTER_IDS = 10;

export function isU16(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

export function isRegisterId(r: unknown): r is number {
  return typeof r === 'number' && Number.isInteger(r) && r >= 0 && r < REGISTER_IDS;
}

export function assertValues(values: readonly number[]): void {
  for (let i = 0; i < values.length; i++) {
    if (!isU16(values[i])) throw new RangeError(`value ${i} is ${values[i]}, not an integer 0..65535`);
  }
}

export function assertBatch(registers: readonly number[], values: readonly number[]): void {
  if (registers.length !== values.length) {
    throw new RangeError(`${registers.length} register ids for ${values.length} values`);
  }
  for (let i = 0; i < registers.length; i++) {
    if (!isRegisterId(registers[i])) throw new RangeError(`register ${i} is ${registers[i]}, not 0..9`);
  }
  assertValues(values);
}

/** Number of bits of v (0 → 0); the firmware's loops start at 1, callers apply their floor. */
export function bitLength(v: number): number {
  let b = 0;
  while (v >= 1 << b && b < 32) b++;
  return b;
}

export function allExact(n: number): Quality[] {
  return new Array<Quality>(n).fill('exact');
}

export function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
