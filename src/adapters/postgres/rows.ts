/** Row ↔ model conversion for the PostgreSQL adapter (bigint columns arrive as numbers, see pool.ts). */
import { type Device, type DevicePolicy, parseGeneration } from '../../model/device.js';
import type { ReplayState } from '../../model/replay.js';
import { parseReplayMode } from '../../model/replay.js';
import { type KeyRow, keyFromRow } from '../sqlite/rows.js';

export type { KeyRow };

export interface PgDeviceRow {
  id: string;
  status: string;
  allow_unsecured: boolean;
  allow_unsecured_config: boolean;
  require_v2: boolean;
  require_encryption: boolean;
  replay_mode: string;
  auto_registered: boolean;
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
  rejects: Record<string, number>;
  control_counts: Record<string, number>;
}

/** What the upload commit reads of a device under its row lock. */
export interface LockedDeviceRow {
  status: string;
  allow_unsecured: boolean;
  allow_unsecured_config: boolean;
  require_v2: boolean;
  require_encryption: boolean;
  replay_mode: string;
  replay_high: number | null;
  replay_seen: string;
  registry_version: number;
  /** Active key ids, oldest first. */
  active_kids: string[];
}

export function policyFromRow(
  r: Pick<
    PgDeviceRow,
    'allow_unsecured' | 'allow_unsecured_config' | 'require_v2' | 'require_encryption' | 'replay_mode'
  >,
): DevicePolicy {
  return {
    allowUnsecured: r.allow_unsecured,
    allowUnsecuredConfig: r.allow_unsecured_config,
    requireV2: r.require_v2,
    requireEncryption: r.require_encryption,
    replay: parseReplayMode(r.replay_mode, 'replay_mode'),
  };
}

export const replayFromRow = (r: Pick<PgDeviceRow, 'replay_high' | 'replay_seen'>): ReplayState => ({
  high: r.replay_high,
  seen: BigInt(`0x${r.replay_seen}`),
});

export const encodeSeen = (seen: bigint): string => seen.toString(16);

export function deviceFromRow(r: PgDeviceRow, keys: KeyRow[]): Device {
  return {
    id: r.id,
    status: r.status === 'disabled' ? 'disabled' : 'active',
    policy: policyFromRow(r),
    autoRegistered: r.auto_registered,
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
      rejects: r.rejects,
      unsecuredControl: r.control_counts,
    },
    keys: keys.map(keyFromRow),
  };
}
