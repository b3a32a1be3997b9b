/**
 * Desired versus running, key by key (pure). A key is `applied` once the device is seen running
 * it in spans that began after the last delivery (the field device applies a change only after
 * its next upload, §1.2), `delivered` while it has been answered but not yet seen, `failed` when
 * the device keeps running something else well after delivery, `pending` until it is answered,
 * and `unsupported` where the firmware cannot apply it at all (§5.3).
 */

import type { ConfigKey, ConfigValue, Delivery } from '../model/config.js';
import type { ChangesOffer } from './changes-response.js';
import { FIRMWARE_DEFAULTS, sameValue } from './config-schema.js';
import { FIELD_SUPPORT, UNSUPPORTED_NOTES } from './field-firmware.js';
import {
  type CadenceSpan,
  estimateInterval,
  matchesSeconds,
  type ObservedKey,
  toSeconds,
} from './observed-cadence.js';

export type KeyState = 'pending' | 'delivered' | 'applied' | 'failed' | 'unsupported';

export interface Running {
  value: ConfigValue;
  /**
   * How it is known: measured from uploads, or what the firmware always does; for a 1.3 device,
   * what it reported at boot, acknowledged, or took without an acknowledgement (config13-state.ts).
   */
  basis:
    | 'upload cadence'
    | 'packet timestamps'
    | 'firmware'
    | 'reported at boot'
    | 'acknowledged'
    | 'unacknowledged';
  measuredMs?: number;
  observedAt?: number;
}

export interface KeyStatus {
  key: ConfigKey;
  desired: ConfigValue;
  source: 'fleet' | 'device';
  /** The configuration version that set this value. */
  version: number;
  state: KeyState;
  running: Running | undefined;
  delivery: Delivery | undefined;
  /** Include it in the device's next `/changes` answer. */
  offer: boolean;
  note: string | undefined;
}

export interface KeyInput {
  key: ConfigKey;
  desired: ConfigValue;
  source: 'fleet' | 'device';
  version: number;
  delivery: Delivery | undefined;
}

/** After this many spans since delivery that still show another value, the change has failed. */
export const FAILED_AFTER_SPANS = 3;

const BASIS: Record<ObservedKey, Running['basis']> = {
  upload_interval: 'upload cadence',
  sampling_interval: 'packet timestamps',
};

/** What the device runs; `notBefore` restricts it to spans that began after a delivery. */
export function runningInterval(
  spans: readonly CadenceSpan[],
  key: ObservedKey,
  notBefore?: number,
): Running | undefined {
  const e = estimateInterval(spans, key, notBefore);
  return e && { value: toSeconds(e.ms), basis: BASIS[key], measuredMs: Math.round(e.ms), observedAt: e.at };
}

const FIRMWARE_REGISTERS: Running = { value: [...FIRMWARE_DEFAULTS.registers], basis: 'firmware' };

export function deriveKeyStatus(input: KeyInput, spans: readonly CadenceSpan[]): KeyStatus {
  const { key, desired, delivery } = input;
  const base = { ...input, delivery };
  const support = FIELD_SUPPORT[key];
  if (support === 'none') {
    return { ...base, state: 'unsupported', running: undefined, offer: false, note: UNSUPPORTED_NOTES[key] };
  }
  if (support === 'stored-never-applied') {
    if (sameValue(desired, FIRMWARE_REGISTERS.value)) {
      return { ...base, state: 'applied', running: FIRMWARE_REGISTERS, offer: false, note: undefined };
    }
    const delivered = delivery !== undefined && sameValue(delivery.value, desired);
    return {
      ...base,
      state: 'unsupported',
      running: FIRMWARE_REGISTERS,
      offer: !delivered,
      note: UNSUPPORTED_NOTES[key],
    };
  }
  const observed = key as ObservedKey;
  const seconds = desired as number;
  const since = estimateInterval(spans, observed, delivery?.firstAt);
  // After a delivery only what the device did since counts (a longer new interval looks like a
  // missed upload until it repeats).
  const running =
    (since && runningInterval(spans, observed, delivery?.firstAt)) ?? runningInterval(spans, observed);
  if (since && matchesSeconds(since.ms, seconds)) {
    return { ...base, state: 'applied', running, offer: false, note: undefined };
  }
  if (delivery && sameValue(delivery.value, desired)) {
    const failed = since !== undefined && since.spans >= FAILED_AFTER_SPANS;
    const note = failed
      ? `answered ${delivery.offers} time(s) since ${new Date(delivery.firstAt).toISOString()}, but the device still runs ${toSeconds(since.ms)} s; still offered`
      : undefined;
    return { ...base, state: failed ? 'failed' : 'delivered', running, offer: true, note };
  }
  return { ...base, state: 'pending', running, offer: true, note: undefined };
}

/** The one state that sums a device up: the least settled of its keys. */
export function overallState(statuses: readonly KeyStatus[]): KeyState {
  for (const s of ['failed', 'pending', 'delivered', 'unsupported'] as const) {
    if (statuses.some((k) => k.state === s)) return s;
  }
  return 'applied';
}

/**
 * The next `/changes` answer. Both intervals travel together so the device never runs a new
 * upload interval with an old sampling interval; a pair that would overflow the device's upload
 * buffer with what it is seen running is held back (the caller reports why).
 */
export function buildOffer(
  statuses: readonly KeyStatus[],
  running: Partial<Record<ObservedKey, number>>,
  isSafe: (sampling: number, upload: number) => boolean,
): { offer: ChangesOffer; held: string | undefined } {
  const by = new Map(statuses.map((s) => [s.key, s]));
  const offer: ChangesOffer = {};
  const sampling = by.get('sampling_interval');
  const upload = by.get('upload_interval');
  let held: string | undefined;
  if (sampling?.offer || upload?.offer) {
    const s =
      (sampling?.desired as number | undefined) ??
      running.sampling_interval ??
      FIRMWARE_DEFAULTS.sampling_interval;
    const u =
      (upload?.desired as number | undefined) ?? running.upload_interval ?? FIRMWARE_DEFAULTS.upload_interval;
    if (isSafe(s, u)) {
      if (sampling) offer.sampling_interval = sampling.desired as number;
      if (upload) offer.upload_interval = upload.desired as number;
    } else {
      held =
        `held back: upload_interval ${u} s with the sampling_interval of ${s} s the device runs would overflow ` +
        'its upload buffer (PROTOCOL.md §1.4); set sampling_interval as well';
    }
  }
  const registers = by.get('registers');
  if (registers?.offer) offer.registers = registers.desired as string[];
  return { offer, held };
}
