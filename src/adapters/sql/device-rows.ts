/** Device and key rows as either database returns them, their models, and reading one device. */
import {
  type Device,
  type DeviceKey,
  type DevicePolicy,
  type DeviceStatus,
  type KeyStatus,
  parseGeneration,
} from '../../model/device.js';
import { parseReplayMode, type ReplayState, replayModeToString } from '../../model/replay.js';
import { bool, json } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

/** A device's columns for the registry (not its decoder state, which can be large). */
export const DEVICE_COLUMNS = `id, status, allow_unsecured, allow_unsecured_config, require_v2, require_encryption, replay_mode,
  auto_registered, created_at, first_seen, last_seen, last_nonce, last_source, generation, auth_source, auth_at,
  replay_high, replay_seen, uploads, readings, quarantined_packets, duplicate_packets, nonce_gaps, rejects,
  control_counts`;

export interface DeviceRow {
  id: string;
  status: string;
  allow_unsecured: boolean | number;
  allow_unsecured_config: boolean | number;
  require_v2: boolean | number;
  require_encryption: boolean | number;
  replay_mode: string;
  auto_registered: boolean | number;
  created_at: number;
  first_seen: number | null;
  last_seen: number | null;
  last_nonce: number | null;
  last_source: string | null;
  generation: string | null;
  auth_source: string | null;
  auth_at: number | null;
  replay_high: number | null;
  replay_seen: string;
  uploads: number;
  readings: number;
  quarantined_packets: number;
  duplicate_packets: number;
  nonce_gaps: number;
  /** JSON object of counters (text in SQLite). */
  rejects: unknown;
  control_counts: unknown;
}

export interface KeyRow {
  device_id: string;
  kid: string;
  kind: string;
  hmac_key: string;
  aes_key: string | null;
  iv: string | null;
  status: string;
  created_at: number;
  last_used_at: number | null;
  retired_at: number | null;
}

/** The replay bitmap as stored: hexadecimal text, which both databases compare as written. */
export const encodeSeen = (seen: bigint): string => seen.toString(16);

/**
 * A new device row, whether an operator created it or its first upload registered it (each
 * adapter's upload commit runs this too, on its own connection): with `newDeviceValues`, one
 * column list for every place a device is inserted.
 */
export const INSERT_DEVICE = `INSERT INTO devices (id, status, allow_unsecured, require_encryption, replay_mode,
  auto_registered, created_at, replay_high, replay_seen, allow_unsecured_config, require_v2)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export function newDeviceValues(d: {
  id: string;
  status: DeviceStatus;
  policy: DevicePolicy;
  autoRegistered: boolean;
  createdAt: number;
  replay: ReplayState;
}): (string | number | boolean | null)[] {
  return [
    d.id,
    d.status,
    d.policy.allowUnsecured,
    d.policy.requireEncryption,
    replayModeToString(d.policy.replay),
    d.autoRegistered,
    d.createdAt,
    d.replay.high,
    encodeSeen(d.replay.seen),
    d.policy.allowUnsecuredConfig ?? false,
    d.policy.requireV2 ?? false,
  ];
}

export const replayFromRow = (r: Pick<DeviceRow, 'replay_high' | 'replay_seen'>): ReplayState => ({
  high: r.replay_high,
  seen: BigInt(`0x${r.replay_seen}`),
});

export function keyFromRow(r: KeyRow): DeviceKey {
  return {
    kid: r.kid,
    kind: r.kind === 'v2' ? 'v2' : 'v1',
    hmacKey: r.hmac_key,
    aesKey: r.aes_key,
    iv: r.iv,
    status: r.status as KeyStatus,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    retiredAt: r.retired_at,
  };
}

export function policyFromRow(
  r: Pick<
    DeviceRow,
    'allow_unsecured' | 'allow_unsecured_config' | 'require_v2' | 'require_encryption' | 'replay_mode'
  >,
): DevicePolicy {
  return {
    allowUnsecured: bool(r.allow_unsecured),
    allowUnsecuredConfig: bool(r.allow_unsecured_config),
    requireV2: bool(r.require_v2),
    requireEncryption: bool(r.require_encryption),
    replay: parseReplayMode(r.replay_mode, 'replay_mode'),
  };
}

export function deviceFromRow(r: DeviceRow, keys: readonly KeyRow[]): Device {
  return {
    id: r.id,
    status: r.status === 'disabled' ? 'disabled' : 'active',
    policy: policyFromRow(r),
    autoRegistered: bool(r.auto_registered),
    createdAt: r.created_at,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastNonce: r.last_nonce,
    lastSource: r.last_source,
    generation: parseGeneration(r.generation),
    lastAuthSource: r.auth_source,
    lastAuthAt: r.auth_at,
    replay: replayFromRow(r),
    counters: {
      uploads: r.uploads,
      readings: r.readings,
      quarantinedPackets: r.quarantined_packets,
      duplicatePackets: r.duplicate_packets,
      nonceGaps: r.nonce_gaps,
      rejects: json<Record<string, number>>(r.rejects),
      unsecuredControl: json<Record<string, number>>(r.control_counts),
    },
    keys: keys.map(keyFromRow),
  };
}

/** One device with its keys, on a connection or inside a transaction (which then sees its own writes). */
export async function loadDevice(db: SqlSession, id: string): Promise<Device | undefined> {
  const [row, keys] = await Promise.all([
    db.one<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [id]),
    db.all<KeyRow>('SELECT * FROM device_keys WHERE device_id = ? ORDER BY created_at, kid', [id]),
  ]);
  return row ? deviceFromRow(row, keys) : undefined;
}
