/**
 * The device registry's model. Why here: devices, policies and keys are named by the storage
 * port, the services, the ingest stages, the firmware model and every adapter; at the bottom of
 * the source tree (importing only other model files) so the port never imports a feature.
 */
import type { ReplayMode, ReplayState } from './replay.js';

export type DeviceStatus = 'active' | 'disabled';

/**
 * Firmware generation, as recognised from how the device talks: `e84f720` posts to `/process`,
 * `1.3` to `/aggregated/<id>` with the envelope's `compressed` key (PROTOCOL-1.3.md §1).
 */
export type Generation = 'e84f720' | '1.3';

export const GENERATIONS: readonly Generation[] = ['e84f720', '1.3'];

export interface DevicePolicy {
  /** Accept bare (un-enveloped) uploads from this device. */
  allowUnsecured: boolean;
  /**
   * Accept unsigned control requests (`/changes`, command polls and results): the field firmware
   * sends `/changes` bare. Absent = false.
   */
  /** Refuse protocol v1 (and bare) requests: the device speaks v2 only (§11). */
  requireV2?: boolean;
  allowUnsecuredConfig?: boolean;
  /** Refuse envelopes with `encrypted: false`. */
  requireEncryption: boolean;
  replay: ReplayMode;
}

export type KeyStatus = 'active' | 'retired';

export type KeyKind = 'v1' | 'v2';

/**
 * A per-device key. `v1`: an HMAC key with an optional AES key and IV, as the field firmware uses
 * them. `v2`: one 32-byte device key from which the v2 MAC and encryption keys derive (in
 * `hmacKey`; `aesKey` and `iv` unused). Key columns hold what the storage was given: sealed by
 * the key vault.
 */
export interface DeviceKey {
  kid: string;
  kind: KeyKind;
  hmacKey: string;
  aesKey: string | null;
  iv: string | null;
  status: KeyStatus;
  createdAt: number;
  lastUsedAt: number | null;
  retiredAt: number | null;
}

export interface DeviceCounters {
  uploads: number;
  readings: number;
  quarantinedPackets: number;
  duplicatePackets: number;
  /** Uploads never received, from nonce gaps (§10.4). */
  nonceGaps: number;
  rejects: Record<string, number>;
  /** Unsigned control requests accepted, by generation. */
  unsecuredControl: Record<string, number>;
}

export interface Device {
  id: string;
  status: DeviceStatus;
  policy: DevicePolicy;
  /** Registered by its first authentic upload with the fleet key, not by an administrator. */
  autoRegistered: boolean;
  createdAt: number;
  firstSeen: number | null;
  lastSeen: number | null;
  lastNonce: number | null;
  lastSource: string | null;
  /** Generation of the device's latest upload; `null` until it uploaded. */
  generation: Generation | null;
  /** Address and time of the latest authenticated (MAC-checked) upload: binds unsecured control. */
  lastAuthSource: string | null;
  lastAuthAt: number | null;
  replay: ReplayState;
  counters: DeviceCounters;
  keys: DeviceKey[];
}

/** The field firmware's first nonce is 10001, and the reference server started at 10000. */
export const FIELD_INITIAL_HIGH = 10000;

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** A stored generation column: anything else (an older row) reads as unknown. */
export function parseGeneration(text: string | null): Generation | null {
  return text === 'e84f720' || text === '1.3' ? text : null;
}

/**
 * Keys a key rotation retires once the device is seen using `used`: a rotation ends when the
 * device uses its newest key, and then every older active key goes (`active` oldest first).
 */
export function keysRetiredByUse(active: readonly string[], used: string | null): string[] {
  if (used === null || active.length < 2 || active[active.length - 1] !== used) return [];
  return active.slice(0, -1);
}
