/**
 * A `/changes` answer read the way the field firmware reads it (PROTOCOL.md §5.3), pure: nothing
 * happens unless `Changed` is true; timers are whole seconds (ArduinoJson's `as<uint64_t>` turns
 * anything else into 0, which NVS refuses while the change still counts as taken); registers only
 * as an array of REGISTER_MAP names spelt exactly as the device spells them, `regsCount` of them.
 */
import { REGISTERS } from '../protocol/registers.js';

/** What the device writes to NVS; absent keys stay as they are. */
export interface SettingsChange {
  pollMs?: number;
  uploadMs?: number;
  /** RegIDs, in the order the device should read them. */
  registers?: readonly number[];
}

export interface ChangesReading {
  /** The answer had `Changed: true`. */
  changed: boolean;
  settings: SettingsChange;
}

/** NVS minimums below which the firmware falls back to its defaults on read (§1.2). */
const POLL_MIN_MS = 100;
const UPLOAD_MIN_MS = 1000;

const byDeviceName = new Map(REGISTERS.map((r) => [r.name, r.id]));

/** Whole non-negative seconds as the device reads them; anything else is 0. */
function seconds(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

export function readChangesAnswer(answer: unknown): ChangesReading {
  const doc = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : {};
  if (doc.Changed !== true) return { changed: false, settings: {} };
  const settings: SettingsChange = {};
  if (doc.pollFreqChanged === true) {
    const ms = seconds(doc.newPollTimer) * 1000;
    if (ms >= POLL_MIN_MS) settings.pollMs = ms;
  }
  if (doc.uploadFreqChanged === true) {
    const ms = seconds(doc.newUploadTimer) * 1000;
    if (ms >= UPLOAD_MIN_MS) settings.uploadMs = ms;
  }
  if (doc.regsChanged === true && Array.isArray(doc.regs)) {
    const count = seconds(doc.regsCount);
    const ids: number[] = [];
    for (const name of doc.regs.slice(0, count)) {
      const id = typeof name === 'string' ? byDeviceName.get(name) : undefined;
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    if (ids.length > 0) settings.registers = ids;
  }
  return { changed: true, settings };
}
