/** JSON shapes of the firmware admin API (schemas: firmware-schemas.ts). No key material: only key-set fingerprints. */

import type { Static } from 'typebox';
import {
  clientGeneration,
  type FirmwareImage,
  type Generation,
  type OtaSession,
  type Rollout,
  type RolloutCounts,
  type RolloutTarget,
} from '../../model/firmware.js';
import { progressPercentage } from '../../protocol/firmware/field-responses.js';
import { currentPercent, unauthenticatedHold } from '../rollout-rules.js';
import type { ImageView, RolloutView, SessionView, TargetView } from './firmware-schemas.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

export function imageView(image: FirmwareImage, servable: boolean): Static<typeof ImageView> {
  return {
    version: image.version,
    generation: image.generation,
    original_size: image.originalSize,
    encrypted_size: image.encryptedSize,
    chunk_size: image.chunkSize,
    total_chunks: image.totalChunks,
    sha256: image.sha256,
    signature: image.signature,
    iv: image.iv,
    key_id: image.keyId,
    servable,
    notes: image.notes,
    forced: image.forced,
    manifest_file: image.manifestFile,
    created_at: iso(image.createdAt),
  };
}

export function targetView(t: RolloutTarget): Static<typeof TargetView> {
  switch (t.kind) {
    case 'all':
      return { kind: t.kind };
    case 'group':
      return { kind: t.kind, group: t.group };
    case 'devices':
      return { kind: t.kind, devices: t.devices };
    case 'percentage':
      return { kind: t.kind, steps: t.steps, step_wait_seconds: t.stepWaitMs / 1000 };
  }
}

const rate = (failed: number, succeeded: number) =>
  failed + succeeded === 0 ? null : Number((failed / (failed + succeeded)).toFixed(4));

/**
 * `generations`: those with a servable image of the version. Always given, so the field is required
 * and keeps its place after `version` (the serialiser writes optional fields last).
 */
export function rolloutView(
  r: Rollout,
  c: RolloutCounts,
  generations: readonly Generation[],
): Static<typeof RolloutView> {
  const failed = c.recentFailed + c.recentUnauthenticatedFailed;
  const succeeded = c.recentSucceeded + c.recentUnauthenticatedSucceeded;
  return {
    id: r.id,
    version: r.version,
    generations: [...generations],
    state: r.state,
    state_reason: r.stateReason,
    target: targetView(r.target),
    step: { index: r.stepIndex, percent: currentPercent(r), started_at: iso(r.stepStartedAt) },
    pinned: r.pinned,
    failure_threshold: r.failureThreshold,
    min_outcomes: r.minOutcomes,
    counts: {
      sessions: c.sessions,
      downloading: c.downloading,
      downloaded: c.downloaded,
      verified: c.verified,
      succeeded: c.succeeded,
      failed: c.failed,
      cancelled: c.cancelled,
      in_flight: c.inFlight,
    },
    /** Every outcome since the threshold last started afresh (creation, or resuming a halt). */
    failure_rate: rate(failed, succeeded),
    /**
     * What the failure threshold judges: authenticated outcomes only. Outcomes reported by bare
     * requests are shown in `unauthenticated` and never halt the rollout; when they alone pass the
     * threshold, a percentage rollout stops growing (`warning`).
     */
    threshold: {
      failed: c.recentFailed,
      succeeded: c.recentSucceeded,
      failure_rate: rate(c.recentFailed, c.recentSucceeded),
    },
    unauthenticated: {
      failed: c.recentUnauthenticatedFailed,
      succeeded: c.recentUnauthenticatedSucceeded,
      failure_rate: rate(c.recentUnauthenticatedFailed, c.recentUnauthenticatedSucceeded),
    },
    warning: r.state === 'active' ? unauthenticatedHold(r, c) : null,
    outcomes_since: iso(r.outcomesSince),
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
  };
}

export function sessionView(s: OtaSession): Static<typeof SessionView> {
  return {
    id: s.id,
    device_id: s.deviceId,
    rollout_id: s.rolloutId,
    version: s.version,
    from_version: s.fromVersion,
    state: s.state,
    rollout_step: s.rolloutStep,
    client: s.client,
    generation: clientGeneration(s.client),
    total_chunks: s.totalChunks,
    next_chunk: s.nextChunk,
    chunks_served: s.chunksServed,
    restarts: s.restarts,
    progress_percent: progressPercentage(Math.min(s.nextChunk, s.totalChunks), s.totalChunks),
    phase: s.phase,
    outcome: s.outcome,
    /** `false`: reported by a bare request (shown, never counted toward a halt); `null`: no outcome. */
    outcome_authenticated: s.outcomeAuthenticated,
    started_at: iso(s.startedAt),
    last_chunk_at: isoOrNull(s.lastChunkAt),
    updated_at: iso(s.updatedAt),
    finished_at: isoOrNull(s.finishedAt),
  };
}
