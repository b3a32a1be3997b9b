/**
 * Temporal coding of firmware 1.3 (compression.cpp:297-364, PROTOCOL-1.3.md §4):
 *
 *   70 | n | n RegID bytes | n × u16 LE                      (base: self-contained)
 *   71 | n | per value: 1s mmmmmm (|d| ≤ 63) | 00 i8 (|d| ≤ 127) | 01 i16 LE
 *
 * value = prediction + d mod 2^16, prediction = 2·p1 − p2 from the rows the last two calls wrote
 * (p1 if outside 0..65535). The encoder keeps a TemporalContext: an 8×10 table of the last value
 * per RegID per call, the write slot, the last layout (10 RegID bytes), its count and `bufferFull`.
 * `0x71` is sent only when bufferFull and the layout equals the previous call's.
 *
 * The state update runs on every call, and the smart selection calls TEMPORAL on every batch
 * whatever wins, so a decoder must follow every packet of the device in order (see
 * Temporal13Context). With n > 10 the update's memcpy runs past `lastRegisters[10]` onto
 * `lastRegisterCount` (byte 10), `writeIndex` (byte 11) and `bufferFull` (byte 12): the layout
 * check then always fails (byte 10 holds n, never a RegID), so real batches only ever give
 * `0x70`; the write slot becomes sel[11] + 1 and bufferFull sel[12] ≠ 0. Bytes 13 and on land in
 * padding, `lastTimestamp` and then whatever the linker placed after the struct: not modelled.
 */
import { encodeTemporal, readTemporalDeltas, TemporalContext } from '../codecs/temporal.js';
import { type DecodeResult, decodeFailure } from '../codecs/types.js';
import { allExact, assertBatch, hex2, isRegisterId, isU16, REGISTER_IDS } from './values.js';

export const TEMPORAL13_BASE = 0x70;
export const TEMPORAL13_DELTA = 0x71;
const SLOTS = 8;

function clampPrediction(p1: number, p2: number): number {
  const pred = 2 * p1 - p2;
  return pred < 0 || pred > 0xffff ? p1 : pred;
}

/** Slot and bufferFull after a call, given the struct bytes the overrun clobbers. */
function overrun(
  registers: readonly number[],
  slot: number,
  full: boolean | null,
): { slot: number; full: boolean | null; slotClobbered: boolean } {
  const n = registers.length;
  const clobbered = n > REGISTER_IDS + 1;
  return {
    slot: clobbered ? registers[REGISTER_IDS + 1] : slot,
    full: n > REGISTER_IDS + 2 ? registers[REGISTER_IDS + 2] !== 0 : full,
    slotClobbered: clobbered,
  };
}

/**
 * The firmware's TemporalContext, exactly (for an encoder: simulators, tests). Starts zeroed.
 * 1.3 kept e84f720's struct, update and overrun, so this is that generation's mirror.
 */
export { TemporalContext as Temporal13State };

export interface Temporal13ContextJSON {
  readonly v: 13;
  /** T[slot][RegID] flattened as slot·10 + RegID; null = not known to the decoder. */
  readonly table: (number | null)[];
  readonly lastRegisters: (number | null)[];
  readonly lastCount: number | null;
  readonly writeIndex: number;
  /** False: `writeIndex` and the table's slots are relative (a consistent but unknown rotation). */
  readonly writeIndexKnown: boolean;
  readonly full: boolean | null;
}

/**
 * What a server can know of one device's TemporalContext, for decoding `0x71`.
 *
 * Knowable from every packet, decodable or not: the layout of each call (the caller's register
 * list), hence lastRegisters, lastCount and how the write slot moves. Knowable only from packets
 * decoded exactly: the table cells; a lossy (semantic) or failed packet leaves the cells it wrote
 * unknown. Unknowable: anything before the decoder joined. A context created with `unknown()`
 * works on a relative slot numbering (predictions only need "the last two calls' rows"); the
 * absolute slot becomes known when a call with ≥ 12 values clobbers it, at which point the
 * relative rows can no longer be placed and are forgotten. `bufferFull` is learnt when the slot
 * wraps (absolute slot known), from the overrun (≥ 13 values), or from a `0x71` itself, which the
 * firmware only sends when it is set.
 *
 * Caller's duties: feed every packet of the device exactly once, in order (a retried upload
 * repeats its packets: deduplicate first); start from `boot()` only when the device is known to
 * have just booted (its context starts zeroed), else from `unknown()`.
 */
export class Temporal13Context {
  private constructor(
    private readonly table: (number | null)[],
    private readonly last: (number | null)[],
    private count: number | null,
    private slot: number,
    private slotKnown: boolean,
    private isFull: boolean | null,
  ) {}

  /** The device's state right after boot: zeroed and fully known. */
  static boot(): Temporal13Context {
    return new Temporal13Context(
      new Array(SLOTS * REGISTER_IDS).fill(0),
      new Array(REGISTER_IDS).fill(0),
      0,
      0,
      true,
      false,
    );
  }

  /** Nothing known: a decoder joining a running device. */
  static unknown(): Temporal13Context {
    return new Temporal13Context(
      new Array(SLOTS * REGISTER_IDS).fill(null),
      new Array(REGISTER_IDS).fill(null),
      null,
      0,
      false,
      null,
    );
  }

  /** An exact mirror of an encoder state. */
  static fromState(state: TemporalContext): Temporal13Context {
    const s = state.toJSON();
    return new Temporal13Context(s.table, s.lastRegisters, s.lastCount, s.writeIndex, true, s.full);
  }

  get full(): boolean | null {
    return this.isFull;
  }

  get lastCount(): number | null {
    return this.count;
  }

  /**
   * Whether the firmware would send `0x71` for this layout: 'no' proves the mirror and the packet
   * disagree; 'unknown' means a `0x71` would be the first evidence.
   */
  deltaPossible(registers: readonly number[]): 'yes' | 'no' | 'unknown' {
    const n = registers.length;
    if (n === 0 || n > REGISTER_IDS || this.isFull === false) return 'no';
    if (this.count !== null && this.count !== n) return 'no';
    let unknown = this.isFull === null || this.count === null;
    for (let i = 0; i < n; i++) {
      const r = this.last[i];
      if (r === null) unknown = true;
      else if (r !== registers[i]) return 'no';
    }
    return unknown ? 'unknown' : 'yes';
  }

  /** Predictions for a `0x71` of this layout, or why they cannot be known. */
  predictions(registers: readonly number[]): { ok: true; values: number[] } | { ok: false; message: string } {
    const values: number[] = [];
    for (const r of registers) {
      if (!isRegisterId(r)) return { ok: false, message: `register ${r} is not 0..9` };
      const p1 = this.table[((this.slot + 7) & 7) * REGISTER_IDS + r];
      const p2 = this.table[((this.slot + 6) & 7) * REGISTER_IDS + r];
      if (p1 === null || p2 === null) {
        return {
          ok: false,
          message: `the last two values of register ${r} before this packet are not known`,
        };
      }
      values.push(clampPrediction(p1, p2));
    }
    return { ok: true, values };
  }

  /**
   * Advances the mirror by one smart-selection call of the device. `values[i]` is the exact value
   * at position i or null where it is not known exactly (pass null for the whole packet when it
   * could not be decoded). `sawDelta`: the packet was a `0x71`, which proves bufferFull was set.
   * A layout the firmware cannot have (a RegID outside 0..9) makes everything unknown.
   */
  observe(registers: readonly number[], values: readonly (number | null)[] | null, sawDelta = false): void {
    const n = registers.length;
    if (n === 0) return; // compressWithSmartSelection returns before TEMPORAL runs
    if (!registers.every(isRegisterId)) {
      this.forget();
      return;
    }
    if (sawDelta) this.isFull = true;
    const row = this.slot * REGISTER_IDS;
    for (let i = 0; i < n; i++) {
      const v = values?.[i];
      this.table[row + registers[i]] = isU16(v) ? v : null;
    }
    for (let i = 0; i < n && i < REGISTER_IDS; i++) this.last[i] = registers[i];
    const next = overrun(registers, this.slot, this.isFull);
    if (next.slotClobbered && !this.slotKnown) {
      // Rows were numbered relative to an unknown origin; the new slot is absolute.
      this.table.fill(null);
      this.slotKnown = true;
    }
    this.count = n & 0xff;
    this.slot = (next.slot + 1) % SLOTS;
    this.isFull = next.full;
    if (this.slotKnown && this.slot === 0) this.isFull = true;
    else if (!this.slotKnown && this.isFull === false) this.isFull = null;
  }

  /** Back to `unknown()`, in place: for when the mirror is known to have lost step. */
  forget(): void {
    this.table.fill(null);
    this.last.fill(null);
    this.count = null;
    this.slot = 0;
    this.slotKnown = false;
    this.isFull = null;
  }

  clone(): Temporal13Context {
    return new Temporal13Context(
      [...this.table],
      [...this.last],
      this.count,
      this.slot,
      this.slotKnown,
      this.isFull,
    );
  }

  toJSON(): Temporal13ContextJSON {
    return {
      v: 13,
      table: [...this.table],
      lastRegisters: [...this.last],
      lastCount: this.count,
      writeIndex: this.slot,
      writeIndexKnown: this.slotKnown,
      full: this.isFull,
    };
  }

  /** JSON text for storage (one per device). */
  serialize(): string {
    return JSON.stringify(this.toJSON());
  }

  /** From `serialize()` text or a `toJSON()` object; undefined if it is not one. */
  static fromJSON(x: unknown): Temporal13Context | undefined {
    const o = parseObject(x);
    if (o?.v !== 13 || typeof o.writeIndexKnown !== 'boolean') return undefined;
    if (!(o.full === null || typeof o.full === 'boolean')) return undefined;
    if (!isIntIn(o.writeIndex, 0, SLOTS - 1)) return undefined;
    if (!(o.lastCount === null || isIntIn(o.lastCount, 0, 0xff))) return undefined;
    if (!isArrayOf(o.table, SLOTS * REGISTER_IDS, (e) => e === null || isIntIn(e, 0, 0xffff)))
      return undefined;
    if (!isArrayOf(o.lastRegisters, REGISTER_IDS, (e) => e === null || isIntIn(e, 0, 0xff))) return undefined;
    return new Temporal13Context(
      [...(o.table as (number | null)[])],
      [...(o.lastRegisters as (number | null)[])],
      o.lastCount,
      o.writeIndex,
      o.writeIndexKnown,
      o.full,
    );
  }
}

/**
 * compressWithTemporalDelta at 1.3: emits `0x70` or `0x71` and advances `state` as the firmware
 * does. Throws on input the firmware cannot be given (see values.ts).
 */
export function encodeTemporal13(
  values: readonly number[],
  registers: readonly number[],
  state: TemporalContext,
): Uint8Array {
  assertBatch(registers, values);
  return encodeTemporal(values, registers, state);
}

/**
 * Decodes `0x70` / `0x71` for the caller's per-value register ids. `0x71` needs a context and
 * fails with `no_context` when the history it refers to is not known (never a guess). The context
 * is only read here: decodePacket13 advances it (it must advance for every packet, not only the
 * temporal ones).
 */
export function decodeTemporal13(
  bytes: Uint8Array,
  registers: readonly number[],
  context?: Temporal13Context,
): DecodeResult {
  const n = registers.length;
  if (bytes.length === 0) return decodeFailure('empty', 'temporal: no bytes');
  const marker = bytes[0];
  if (marker !== TEMPORAL13_BASE && marker !== TEMPORAL13_DELTA) {
    return decodeFailure('unknown_marker', `temporal: marker 0x${hex2(marker)} is neither 0x70 nor 0x71`);
  }
  if (bytes.length < 2) return decodeFailure('truncated', 'temporal: count byte missing');
  if (n < 1) return decodeFailure('bad_count', 'temporal: no values expected');
  if (bytes[1] !== (n & 0xff)) {
    return decodeFailure('bad_count', `temporal: header count ${bytes[1]} is not ${n} mod 256`);
  }
  return marker === TEMPORAL13_BASE
    ? decodeBase(bytes, registers, context)
    : decodeDelta(bytes, registers, context);
}

function decodeBase(
  bytes: Uint8Array,
  registers: readonly number[],
  context?: Temporal13Context,
): DecodeResult {
  const n = registers.length;
  const need = 2 + 3 * n;
  if (bytes.length < need)
    return decodeFailure('truncated', `temporal base: ${need} bytes needed, got ${bytes.length}`);
  if (bytes.length > need)
    return decodeFailure('trailing_bytes', `temporal base: ${bytes.length - need} extra bytes`);
  for (let i = 0; i < n; i++) {
    // The RegID bytes are u8 copies of the layout: they must be the caller's (mod 256 for foreign ids).
    if (bytes[2 + i] !== (registers[i] & 0xff)) {
      return decodeFailure(
        'bad_value',
        `temporal base: RegID ${bytes[2 + i]} at ${i}, the packet says ${registers[i]}`,
      );
    }
  }
  const values = new Array<number>(n);
  for (let i = 0, p = 2 + n; i < n; i++, p += 2) values[i] = bytes[p] | (bytes[p + 1] << 8);
  const notes: string[] = [];
  if (context?.deltaPossible(registers) === 'yes') {
    notes.push('the mirrored context expected 0x71 here: it has missed a packet or a reboot');
  }
  if (n > 0xff) notes.push(`count byte wrapped (${bytes[1]} = ${n} mod 256); ${n} taken from the caller`);
  return { ok: true, method: 'temporal_base', values, quality: allExact(n), notes };
}

function decodeDelta(
  bytes: Uint8Array,
  registers: readonly number[],
  context?: Temporal13Context,
): DecodeResult {
  const n = registers.length;
  if (n > REGISTER_IDS) {
    return decodeFailure('bad_count', `temporal delta: the firmware never sends 0x71 for ${n} > 10 values`);
  }
  if (!context) return decodeFailure('no_context', 'temporal delta: no mirrored context for this device');
  if (context.deltaPossible(registers) === 'no') {
    return decodeFailure(
      'no_context',
      'temporal delta: the mirrored context says the firmware would have sent 0x70 (a packet or reboot was missed)',
    );
  }
  const predicted = context.predictions(registers);
  if (!predicted.ok) return decodeFailure('no_context', `temporal delta: ${predicted.message}`);
  const deltas = readTemporalDeltas(bytes, n);
  if (!deltas.ok) return deltas;
  const values = deltas.deltas.map((d, i) => (predicted.values[i] + d) & 0xffff);
  return { ok: true, method: 'temporal_delta', values, quality: allExact(n), notes: [] };
}

function parseObject(x: unknown): Record<string, unknown> | undefined {
  let data = x;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  return typeof data === 'object' && data !== null && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : undefined;
}

function isIntIn(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
}

function isArrayOf(x: unknown, length: number, ok: (e: unknown) => boolean): boolean {
  return Array.isArray(x) && x.length === length && x.every(ok);
}
