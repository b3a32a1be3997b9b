/** Row shapes of the firmware tables as either database returns them, and their mapping to the model. */
import { parseGeneration } from '../../model/device.js';
import {
  EMPTY_ROLLOUT_COUNTS,
  type FirmwareImage,
  type OtaSession,
  type Rollout,
  type RolloutCounts,
  type RolloutState,
  type RolloutTarget,
  type SessionClient,
  type SessionState,
} from '../../model/firmware.js';
import { bool, json } from './row-values.js';

export interface ImageRow {
  version: string;
  generation: string;
  original_size: number;
  encrypted_size: number;
  chunk_size: number;
  total_chunks: number;
  sha256: string;
  signature: string;
  iv: string;
  key_id: string;
  notes: string | null;
  forced: number | boolean;
  encrypted_file: string;
  manifest_file: string;
  created_at: number;
}

export interface RolloutRow {
  id: number;
  version: string;
  target: string;
  step_index: number;
  step_started_at: number;
  pinned: number | boolean;
  failure_threshold: number;
  min_outcomes: number;
  outcomes_since: number;
  state: string;
  state_reason: string | null;
  created_at: number;
  updated_at: number;
}

export interface SessionRow {
  id: number;
  device_id: string;
  rollout_id: number;
  version: string;
  from_version: string | null;
  state: string;
  rollout_step: number;
  client: string;
  total_chunks: number;
  next_chunk: number;
  max_chunk: number;
  chunks_served: number;
  restarts: number;
  phase: string | null;
  outcome: string | null;
  /** 'authenticated' | 'unauthenticated' | NULL (no outcome yet, or stored before generations). */
  outcome_auth: string | null;
  started_at: number;
  last_chunk_at: number | null;
  updated_at: number;
  finished_at: number | null;
}

export function imageFromRow(r: ImageRow): FirmwareImage {
  return {
    version: r.version,
    generation: parseGeneration(r.generation) ?? 'e84f720',
    originalSize: r.original_size,
    encryptedSize: r.encrypted_size,
    chunkSize: r.chunk_size,
    totalChunks: r.total_chunks,
    sha256: r.sha256,
    signature: r.signature,
    iv: r.iv,
    keyId: r.key_id,
    notes: r.notes,
    forced: bool(r.forced),
    encryptedFile: r.encrypted_file,
    manifestFile: r.manifest_file,
    createdAt: r.created_at,
  };
}

export function rolloutFromRow(r: RolloutRow): Rollout {
  return {
    id: r.id,
    version: r.version,
    target: json<RolloutTarget>(r.target),
    stepIndex: r.step_index,
    stepStartedAt: r.step_started_at,
    pinned: bool(r.pinned),
    failureThreshold: r.failure_threshold,
    minOutcomes: r.min_outcomes,
    outcomesSince: r.outcomes_since,
    state: r.state as RolloutState,
    stateReason: r.state_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function sessionFromRow(r: SessionRow): OtaSession {
  return {
    id: r.id,
    deviceId: r.device_id,
    rolloutId: r.rollout_id,
    version: r.version,
    fromVersion: r.from_version,
    state: r.state as SessionState,
    rolloutStep: r.rollout_step,
    client: r.client as SessionClient,
    totalChunks: r.total_chunks,
    nextChunk: r.next_chunk,
    maxChunk: r.max_chunk,
    chunksServed: r.chunks_served,
    restarts: r.restarts,
    phase: r.phase,
    outcome: r.outcome,
    outcomeAuthenticated:
      r.outcome_auth === 'authenticated' ? true : r.outcome_auth === 'unauthenticated' ? false : null,
    startedAt: r.started_at,
    lastChunkAt: r.last_chunk_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

/** How a session's outcome is stored (`outcome_auth`). */
export const outcomeAuth = (authenticated: boolean): string =>
  authenticated ? 'authenticated' : 'unauthenticated';

/** The states in which a session still holds its device in the update. */
export const OPEN_STATES = "('downloading', 'downloaded', 'verified')";

/**
 * Per state: sessions, live open ones (args: stalled-before time, rollout id), outcomes since
 * `outcomes_since` that count (authenticated) and those reported bare.
 */
export const COUNTS_SQL = `SELECT s.state AS state, count(*) AS n,
  sum(CASE WHEN s.state IN ${OPEN_STATES} AND s.updated_at > ? THEN 1 ELSE 0 END) AS live,
  sum(CASE WHEN s.finished_at >= r.outcomes_since AND coalesce(s.outcome_auth, '') <> 'unauthenticated' THEN 1 ELSE 0 END) AS recent,
  sum(CASE WHEN s.finished_at >= r.outcomes_since AND s.outcome_auth = 'unauthenticated' THEN 1 ELSE 0 END) AS recent_bare
  FROM ota_sessions s JOIN rollouts r ON r.id = s.rollout_id WHERE s.rollout_id = ? GROUP BY s.state`;

export interface CountRow {
  state: string;
  n: number;
  live: number;
  /** Absent: every outcome counts (a store without `outcomes_since`). */
  recent?: number;
  /** Outcomes reported bare, since `outcomes_since`. */
  recent_bare?: number;
}

export function countsFrom(rows: CountRow[]): RolloutCounts {
  const c: RolloutCounts = { ...EMPTY_ROLLOUT_COUNTS };
  for (const r of rows) {
    c.sessions += r.n;
    c.inFlight += r.live;
    if (r.state in c) c[r.state as keyof RolloutCounts] += r.n;
    if (r.state === 'succeeded') {
      c.recentSucceeded += r.recent ?? r.n;
      c.recentUnauthenticatedSucceeded += r.recent_bare ?? 0;
    }
    if (r.state === 'failed') {
      c.recentFailed += r.recent ?? r.n;
      c.recentUnauthenticatedFailed += r.recent_bare ?? 0;
    }
  }
  return c;
}
