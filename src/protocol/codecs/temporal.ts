/**
 * Temporal delta coding, `0x70` base / `0x71` delta (PROTOCOL.md §3.3.2), with a context that
 * mirrors the device's `TemporalContext` byte for byte so a server can follow a device's stream.
 *
 *   0x70, n, sel[0..n-1] (u8), v[0..n-1] (u16 LE)
 *   0x71, n, then per value the delta d to a linear prediction from the last two slots:
 *        0x80 | |d| | (d < 0 ? 0x40 : 0)   for −63..63
 *        0x00, d as i8                     for −127..127
 *        0x01, d as i16 LE                 otherwise
 */

import { type DecodeFailed, type DecodeResult, decodeFailure, type Quality } from './types.js';

const BASE = 0x70;
const DELTA = 0x71;
const SLOTS = 8;
/** RegIDs 0..9: the device's register enum and the width of its history table. */
const REGS = 10;

/** Plain-data form of a context, for storage (one per device). */
export interface TemporalContextJSON {
  readonly v: 1;
  /** T[slot][RegID] flattened as slot·10 + RegID, u16 each. */
  readonly table: number[];
  readonly writeIndex: number;
  readonly lastRegisters: number[];
  readonly lastCount: number;
  readonly full: boolean;
}

/**
 * The device's temporal state: an 8×10 u16 history T[slot][RegID], the write slot, the last
 * register layout (10 bytes), its count and the `full` flag (set when the slot wraps to 0).
 * The device struct starts zeroed, and so does this.
 *
 * Overflow for n > 10 (compression.cpp:326): the device copies n RegID bytes into the 10-byte
 * `lastRegisters`, so bytes 10, 11 and 12 of the selection land on the fields that follow it in
 * the struct (compression.h: lastRegisterCount, writeIndex, bufferFull, then padding and the
 * timestamp, which nothing here reads). The code then sets lastRegisterCount = n and
 * writeIndex = (writeIndex + 1) % 8 from the clobbered value. Effects reproduced here, without
 * writing out of bounds:
 *   - the compatibility test always fails (byte 10 then holds n > 10, never a RegID), so every
 *     such call emits 0x70;
 *   - n ≥ 12: the new write slot is (sel[11] + 1) % 8 (for the batch layout: (7 + 1) % 8 = 0,
 *     which also sets `full`);
 *   - n ≥ 13: `full` becomes sel[12] ≠ 0 before the usual wrap rule.
 * Bytes written beyond the struct (x86-64: 6, 32-bit: about 10) belong to other variables and
 * are not modelled.
 */
export class TemporalContext {
  private readonly table = new Uint16Array(SLOTS * REGS);
  private readonly last = new Uint8Array(REGS);
  private slot = 0;
  private count = 0;
  private isFull = false;

  get writeIndex(): number {
    return this.slot;
  }

  get lastCount(): number {
    return this.count;
  }

  get full(): boolean {
    return this.isFull;
  }

  get lastRegisters(): readonly number[] {
    return Array.from(this.last);
  }

  /** T[slot][reg] as the device holds it. */
  history(slot: number, reg: number): number {
    return this.table[(slot & 7) * REGS + reg];
  }

  /** Whether the device would emit 0x71 for this layout now. */
  compatible(registers: ArrayLike<number>): boolean {
    const n = registers.length;
    if (!this.isFull || this.count !== n || n > REGS) return false;
    for (let i = 0; i < n; i++) if (registers[i] !== this.last[i]) return false;
    return true;
  }

  /** pred = 2·p1 − p2 from the last two slots, falling back to p1 outside 0..65535. */
  predict(reg: number): number {
    const p1 = this.table[((this.slot + 7) & 7) * REGS + reg];
    const p2 = this.table[((this.slot + 6) & 7) * REGS + reg];
    const pred = 2 * p1 - p2;
    return pred < 0 || pred > 0xffff ? p1 : pred;
  }

  /**
   * The state update the device runs after every compressWithTemporalDelta call, whichever
   * frame it emitted. A caller that saw another method win feeds the packet's exact values here.
   * Returns false, changing nothing, for input the device cannot have had (lengths differ, a
   * register outside 0..9).
   */
  advance(values: ArrayLike<number>, registers: ArrayLike<number>): boolean {
    const n = registers.length;
    if (values.length !== n || !validLayout(registers)) return false;
    const row = this.slot * REGS;
    for (let i = 0; i < n; i++) this.table[row + registers[i]] = values[i] & 0xffff;
    for (let i = 0; i < n && i < REGS; i++) this.last[i] = registers[i];
    let slot = this.slot;
    let full = this.isFull;
    if (n > REGS + 1) slot = registers[REGS + 1] & 0xff; // overflow onto writeIndex
    if (n > REGS + 2) full = (registers[REGS + 2] & 0xff) !== 0; // … and onto bufferFull
    this.count = n & 0xff; // a uint8_t on the device
    this.slot = (slot + 1) % SLOTS;
    this.isFull = full || this.slot === 0;
    return true;
  }

  clone(): TemporalContext {
    const copy = new TemporalContext();
    copy.table.set(this.table);
    copy.last.set(this.last);
    copy.slot = this.slot;
    copy.count = this.count;
    copy.isFull = this.isFull;
    return copy;
  }

  toJSON(): TemporalContextJSON {
    return {
      v: 1,
      table: Array.from(this.table),
      writeIndex: this.slot,
      lastRegisters: Array.from(this.last),
      lastCount: this.count,
      full: this.isFull,
    };
  }

  /** Validates a stored context (object or its JSON text); undefined if it is not one. */
  static fromJSON(x: unknown): TemporalContext | undefined {
    let data = x;
    if (typeof data === 'string') {
      try {
        data = JSON.parse(data);
      } catch {
        return undefined;
      }
    }
    if (typeof data !== 'object' || data === null) return undefined;
    const o = data as Record<string, unknown>;
    if (o.v !== 1 || typeof o.full !== 'boolean') return undefined;
    if (!isIntIn(o.writeIndex, 0, SLOTS - 1) || !isIntIn(o.lastCount, 0, 0xff)) return undefined;
    if (!isIntArray(o.table, SLOTS * REGS, 0xffff) || !isIntArray(o.lastRegisters, REGS, 0xff))
      return undefined;
    const ctx = new TemporalContext();
    ctx.table.set(o.table);
    ctx.last.set(o.lastRegisters);
    ctx.slot = o.writeIndex;
    ctx.count = o.lastCount;
    ctx.isFull = o.full;
    return ctx;
  }
}

function isIntIn(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
}

function isIntArray(x: unknown, length: number, max: number): x is number[] {
  return Array.isArray(x) && x.length === length && x.every((e) => isIntIn(e, 0, max));
}

function validLayout(registers: ArrayLike<number>): boolean {
  for (let i = 0; i < registers.length; i++) if (!isIntIn(registers[i], 0, REGS - 1)) return false;
  return true;
}

/**
 * The device's compressWithTemporalDelta: emits 0x70 or 0x71 and advances `ctx` exactly as the
 * device does. Values are taken mod 2^16 (C uint16_t). Input the device cannot be given
 * (lengths differ, a register outside 0..9) yields an empty array and leaves `ctx` untouched.
 */
export function encodeTemporal(
  values: readonly number[],
  registers: readonly number[],
  ctx: TemporalContext,
): Uint8Array {
  const n = values.length;
  if (registers.length !== n || !validLayout(registers)) return new Uint8Array(0);
  const out = new Uint8Array(2 + 3 * n);
  out[1] = n & 0xff;
  let p = 2;
  if (!ctx.compatible(registers)) {
    out[0] = BASE;
    for (let i = 0; i < n; i++) out[p++] = registers[i];
    for (let i = 0; i < n; i++) {
      const v = values[i] & 0xffff;
      out[p++] = v & 0xff;
      out[p++] = v >>> 8;
    }
  } else {
    out[0] = DELTA;
    for (let i = 0; i < n; i++) {
      // The device subtracts two int16 casts and stores the result in an int16: mod 2^16.
      const d = (((values[i] & 0xffff) - ctx.predict(registers[i])) << 16) >> 16;
      if (d >= -63 && d <= 63) {
        out[p++] = 0x80 | (d < 0 ? 0x40 | -d : d);
      } else if (d >= -127 && d <= 127) {
        out[p++] = 0x00;
        out[p++] = d & 0xff;
      } else {
        out[p++] = 0x01;
        out[p++] = d & 0xff;
        out[p++] = (d >> 8) & 0xff;
      }
    }
  }
  ctx.advance(values, registers);
  return out.slice(0, p);
}

/**
 * Decodes 0x70 (self-contained, exact) or 0x71 (needs a context mirroring the device's; without
 * one: `no_context`). With a context, a successful decode advances it exactly like the device's
 * encoder did, so a caller replaying a device's stream stays in sync; a failure leaves it as is.
 * `registers`, when known, must match the frame's layout (else bad_count / bad_value).
 */
export function decodeTemporal(
  bytes: Uint8Array,
  registers?: readonly number[],
  ctx?: TemporalContext,
): DecodeResult {
  if (bytes.length === 0) return decodeFailure('empty', 'temporal: no bytes');
  const marker = bytes[0];
  if (marker !== BASE && marker !== DELTA) {
    return decodeFailure(
      'unknown_marker',
      `temporal: marker 0x${marker.toString(16)} is neither 0x70 nor 0x71`,
    );
  }
  if (bytes.length < 2) return decodeFailure('truncated', 'temporal: count byte missing');
  const n = bytes[1];
  if (registers !== undefined && registers.length !== n) {
    return decodeFailure('bad_count', `temporal: frame holds ${n} values, the packet ${registers.length}`);
  }
  return marker === BASE ? decodeBase(bytes, n, registers, ctx) : decodeDelta(bytes, n, registers, ctx);
}

function decodeBase(
  bytes: Uint8Array,
  n: number,
  registers: readonly number[] | undefined,
  ctx: TemporalContext | undefined,
): DecodeResult {
  const need = 2 + 3 * n;
  if (bytes.length < need) return decodeFailure('truncated', `temporal base: ${need} bytes needed`);
  if (bytes.length > need)
    return decodeFailure('trailing_bytes', `temporal base: ${bytes.length - need} extra`);
  const layout = bytes.subarray(2, 2 + n);
  for (let i = 0; i < n; i++) {
    if (layout[i] >= REGS) return decodeFailure('bad_value', `temporal base: RegID ${layout[i]} at ${i}`);
    if (registers !== undefined && registers[i] !== layout[i]) {
      return decodeFailure(
        'bad_value',
        `temporal base: RegID ${layout[i]} at ${i}, the packet says ${registers[i]}`,
      );
    }
  }
  const values = new Array<number>(n);
  for (let i = 0, p = 2 + n; i < n; i++, p += 2) values[i] = bytes[p] | (bytes[p + 1] << 8);
  const notes: string[] = [];
  if (ctx) {
    if (ctx.compatible(layout)) {
      notes.push('mirrored temporal context is out of sync: the device would have sent 0x71 here');
    }
    ctx.advance(values, layout);
  }
  return { ok: true, method: 'temporal_base', values, quality: allExact(n), notes };
}

function decodeDelta(
  bytes: Uint8Array,
  n: number,
  registers: readonly number[] | undefined,
  ctx: TemporalContext | undefined,
): DecodeResult {
  if (!ctx) return decodeFailure('no_context', 'temporal delta: no mirrored context for this device');
  if (n > REGS)
    return decodeFailure('bad_count', `temporal delta: the device never sends 0x71 for ${n} > 10 values`);
  if (!ctx.full || ctx.lastCount !== n) {
    return decodeFailure(
      'no_context',
      `temporal delta: mirrored context is out of sync (full=${ctx.full}, lastCount=${ctx.lastCount}, n=${n})`,
    );
  }
  const layout = ctx.lastRegisters.slice(0, n);
  if (registers !== undefined) {
    for (let i = 0; i < n; i++) {
      if (registers[i] !== layout[i]) {
        return decodeFailure(
          'bad_value',
          `temporal delta: RegID ${registers[i]} at ${i}, context has ${layout[i]}`,
        );
      }
    }
  }
  const deltas = readTemporalDeltas(bytes, n);
  if (!deltas.ok) return deltas;
  // Predictions use the state before this frame: the device updates T only afterwards.
  const values = deltas.deltas.map((d, i) => (ctx.predict(layout[i]) + d) & 0xffff);
  ctx.advance(values, layout);
  return { ok: true, method: 'temporal_delta', values, quality: allExact(n), notes: [] };
}

/**
 * The n deltas of a `0x71` frame (after its 2-byte header), each in the one form the device
 * writes it: one byte for |d| ≤ 63, `00 i8` for 64..127, `01 i16` otherwise. Firmware 1.3 kept
 * the frame, so its decoder reads it here too.
 */
export function readTemporalDeltas(
  bytes: Uint8Array,
  n: number,
): { ok: true; deltas: number[] } | DecodeFailed {
  const deltas = new Array<number>(n);
  let p = 2;
  for (let i = 0; i < n; i++) {
    if (p >= bytes.length) return decodeFailure('truncated', `temporal delta: value ${i} missing`);
    const tag = bytes[p];
    let d: number;
    if (tag & 0x80) {
      const magnitude = tag & 0x3f;
      if ((tag & 0x40) !== 0 && magnitude === 0)
        return decodeFailure('bad_value', `temporal delta: −0 at ${i}`);
      d = tag & 0x40 ? -magnitude : magnitude;
      p += 1;
    } else if (tag === 0x00) {
      if (p + 1 >= bytes.length) return decodeFailure('truncated', `temporal delta: value ${i} cut short`);
      d = (bytes[p + 1] << 24) >> 24;
      if (d >= -63 && d <= 63)
        return decodeFailure('bad_value', `temporal delta: ${d} in the 8-bit form at ${i}`);
      if (d === -128) return decodeFailure('bad_value', `temporal delta: −128 in the 8-bit form at ${i}`);
      p += 2;
    } else if (tag === 0x01) {
      if (p + 2 >= bytes.length) return decodeFailure('truncated', `temporal delta: value ${i} cut short`);
      d = ((bytes[p + 1] | (bytes[p + 2] << 8)) << 16) >> 16;
      if (d >= -127 && d <= 127)
        return decodeFailure('bad_value', `temporal delta: ${d} in the 16-bit form at ${i}`);
      p += 3;
    } else {
      return decodeFailure('bad_value', `temporal delta: tag 0x${tag.toString(16)} at value ${i}`);
    }
    deltas[i] = d;
  }
  if (p < bytes.length)
    return decodeFailure('trailing_bytes', `temporal delta: ${bytes.length - p} extra bytes`);
  return { ok: true, deltas };
}

function allExact(n: number): Quality[] {
  return new Array<Quality>(n).fill('exact');
}
