/**
 * Mirrors a field device's dictionary learning (PROTOCOL.md §3.3.1 `updateDictionary`): the
 * device appends a pattern (the batch's values for its registers, zeros elsewhere) whenever no
 * pattern is within the match limit, and later sends `D0` packets against that pattern, which it
 * never tells the server. Following every packet in order, the server can rebuild those patterns
 * and decode what would otherwise be lost.
 *
 * It only ever learns what it can be sure of: a packet whose values are not all exact, or a gap
 * in the packet sequence, freezes the mirror (no further patterns; the ones known stay valid,
 * because the device only appends). A reboot (the upload's millis() going backwards) resets it.
 */

import { DICTIONARY_LEARN_LIMIT } from './device-compressor.js';
import { DEVICE_PATTERNS, DICTIONARY_MARKER, findClosestPattern, type Pattern } from './dictionary.js';
import type { Quality } from './types.js';

const PATTERN_COLUMNS = 10;

interface MirrorState {
  learned: number[][];
  frozen: boolean;
  lastPacketTs: number | null;
  lastUploadTs: number | null;
}

export class DictionaryMirror {
  private constructor(private state: MirrorState) {}

  static fresh(): DictionaryMirror {
    return new DictionaryMirror({ learned: [], frozen: false, lastPacketTs: null, lastUploadTs: null });
  }

  /** Restores a stored mirror; anything unreadable starts fresh (and so only decodes less). */
  static fromJSON(text: string | null | undefined): DictionaryMirror {
    if (!text) return DictionaryMirror.fresh();
    try {
      const s = JSON.parse(text) as Partial<MirrorState>;
      const learned = Array.isArray(s.learned)
        ? s.learned.filter(
            (p): p is number[] =>
              Array.isArray(p) &&
              p.length === PATTERN_COLUMNS &&
              p.every((v) => Number.isInteger(v) && v >= 0 && v < 65536),
          )
        : [];
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
      return new DictionaryMirror({
        learned: learned.slice(0, DICTIONARY_LEARN_LIMIT - DEVICE_PATTERNS.length),
        frozen: s.frozen === true,
        lastPacketTs: num(s.lastPacketTs),
        lastUploadTs: num(s.lastUploadTs),
      });
    } catch {
      return DictionaryMirror.fresh();
    }
  }

  toJSON(): string {
    return JSON.stringify(this.state);
  }

  clone(): DictionaryMirror {
    return DictionaryMirror.fromJSON(this.toJSON());
  }

  /** Built-in patterns followed by the learned ones, as the device indexes them. */
  get patterns(): readonly Pattern[] {
    return this.state.learned.length === 0 ? DEVICE_PATTERNS : [...DEVICE_PATTERNS, ...this.state.learned];
  }

  get learnedCount(): number {
    return this.state.learned.length;
  }

  get frozen(): boolean {
    return this.state.frozen;
  }

  /** A new upload: its millis() going backwards means the device rebooted with a fresh dictionary. */
  beginUpload(uploadTs: number | null): void {
    if (uploadTs === null) return;
    if (this.state.lastUploadTs !== null && uploadTs < this.state.lastUploadTs) {
      this.state = { learned: [], frozen: false, lastPacketTs: null, lastUploadTs: uploadTs };
      return;
    }
    this.state.lastUploadTs = uploadTs;
  }

  /** False for a packet already followed (the same packet re-sent after a lost answer). */
  isNew(packetTs: number | null): boolean {
    return packetTs === null || this.state.lastPacketTs === null || packetTs > this.state.lastPacketTs;
  }

  /**
   * Follows the device through one new packet, given what was decoded from it (`null` when it
   * could not be decoded) and the longest spacing two consecutive packets may have.
   */
  follow(
    packet: { timestamp: number | null; firstByte: number | undefined },
    decoded: { values: readonly (number | null)[]; quality: readonly Quality[] } | null,
    registers: readonly number[],
    maxSpacingMs: number,
  ): void {
    const s = this.state;
    if (packet.timestamp === null) {
      s.frozen = true;
      return;
    }
    if (s.lastPacketTs !== null && packet.timestamp - s.lastPacketTs > maxSpacingMs) s.frozen = true;
    s.lastPacketTs = packet.timestamp;
    if (s.frozen || DEVICE_PATTERNS.length + s.learned.length >= DICTIONARY_LEARN_LIMIT) return;
    // A D0 packet means a pattern matched, and the same match stops the device from learning.
    if (packet.firstByte === DICTIONARY_MARKER) return;
    if (!decoded?.quality.every((q) => q === 'exact')) {
      s.frozen = true;
      return;
    }
    const values = decoded.values as number[];
    if (findClosestPattern(values, registers, this.patterns) >= 0) return;
    const pattern = new Array<number>(PATTERN_COLUMNS).fill(0);
    // Later duplicates of a RegID overwrite earlier ones: a batch leaves its last sample.
    for (let i = 0; i < values.length; i++) pattern[registers[i]] = values[i] & 0xffff;
    s.learned.push(pattern);
  }
}
