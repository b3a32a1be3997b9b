/**
 * Desired versus running for a generation-1.3 device, key by key (pure). Unlike e84f720, which
 * has to be watched, a 1.3 device says what it runs: its configuration at boot
 * (`POST /config/<id>/current`) and an acknowledgement after every answer that changed something
 * (PROTOCOL-1.3.md §6). It says nothing about an answer that changed nothing, so a value answered
 * several times without an acknowledgement is one it already runs.
 */

import type { ConfigKey, ConfigReport } from '../model/config.js';
import type { FieldErrors } from '../model/field-errors.js';
import { sameValue } from './config-schema.js';
import type { KeyInput, KeyStatus, Running } from './config-state.js';
import type { Config13Offer } from './config13-response.js';
import { checkOffer13, GEN13_DEFAULTS, packetOverflow13, sameRunning13 } from './config13-response.js';

/**
 * Answers carrying the same value without an acknowledgement after which the device is taken to
 * run it: the firmware acknowledges every change before it asks again, so silence after an
 * answer means the value was already running (or the acknowledgement was lost after applying it).
 */
export const UNACKNOWLEDGED_AFTER_OFFERS = 3;

export function runningFromReport(r: ConfigReport | undefined): Running | undefined {
  return r?.outcome === 'running' ? { value: r.value, basis: r.basis, observedAt: r.at } : undefined;
}

const iso = (t: number) => new Date(t).toISOString();

export function deriveKeyStatus13(input: KeyInput, report: ConfigReport | undefined): KeyStatus {
  const { key, desired, delivery } = input;
  const base = { ...input, delivery };
  const running = runningFromReport(report);
  if (running && sameRunning13(key, running.value, desired)) {
    return { ...base, state: 'applied', running, offer: false, note: undefined };
  }
  const delivered = delivery !== undefined && sameValue(delivery.value, desired);
  if (
    report?.outcome === 'failed' &&
    sameRunning13(key, report.value, desired) &&
    (!delivered || report.at >= delivery.firstAt)
  ) {
    return {
      ...base,
      state: 'failed',
      running,
      offer: false,
      note: `the device acknowledged this value as failed at ${iso(report.at)}; not offered again (set another value, or withdraw)`,
    };
  }
  if (delivered) {
    const heardSince = report !== undefined && report.at >= delivery.firstAt;
    if (!heardSince && delivery.offers >= UNACKNOWLEDGED_AFTER_OFFERS) {
      return {
        ...base,
        state: 'applied',
        running: { value: desired, basis: 'unacknowledged', observedAt: delivery.lastAt },
        offer: false,
        note: `answered ${delivery.offers} times without an acknowledgement: the 1.3 firmware acknowledges only a change, so it already ran this value`,
      };
    }
    return { ...base, state: 'delivered', running, offer: true, note: undefined };
  }
  return { ...base, state: 'pending', running, offer: true, note: undefined };
}

/**
 * The next `GET /config/<id>` answer's keys: every key still to be offered, each checked again
 * (`refused` says why a key was left out).
 */
export function buildOffer13(
  statuses: readonly KeyStatus[],
  /** What the device reported it runs, for keys without a desired value too. */
  running: Partial<Record<ConfigKey, Pick<Running, 'value'>>> = {},
): { offer: Config13Offer; refused: FieldErrors } {
  const wanted: Config13Offer = {};
  for (const s of statuses) if (s.offer) wanted[s.key as ConfigKey] = s.desired;
  const { safe, refused } = checkOffer13(wanted);
  // The cadence and the register selection together decide the packet size: judged on what the
  // device would run once this answer is applied.
  const cadenceKeys = ['sampling_interval', 'upload_interval', 'registers'] as const;
  if (cadenceKeys.some((k) => safe[k] !== undefined)) {
    const effective = (key: (typeof cadenceKeys)[number]) => {
      const s = statuses.find((x) => x.key === key);
      return safe[key] ?? s?.running?.value ?? running[key]?.value ?? s?.desired;
    };
    const sampling = effective('sampling_interval');
    const upload = effective('upload_interval');
    const registers = effective('registers');
    const overflow = packetOverflow13(
      typeof sampling === 'number' ? sampling : GEN13_DEFAULTS.sampling_interval,
      typeof upload === 'number' ? upload : GEN13_DEFAULTS.upload_interval,
      Array.isArray(registers) ? registers.length : GEN13_DEFAULTS.registers,
    );
    if (overflow) {
      for (const k of cadenceKeys) {
        if (safe[k] === undefined) continue;
        delete safe[k];
        refused[k] = overflow;
      }
    }
  }
  return { offer: safe, refused };
}
