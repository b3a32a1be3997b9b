/** JSON shapes of the firmware admin API. No key material: only key-set fingerprints. */
import type {
  FirmwareImage,
  OtaSession,
  Rollout,
  RolloutCounts,
  RolloutTarget,
} from '../../firmware/model.js';
import { currentPercent } from '../../firmware/rollout-rules.js';
import { progressPercentage } from '../../protocol/firmware/field-responses.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function imageView(image: FirmwareImage, servable: boolean) {
  return {
    version: image.version,
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

export function targetView(t: RolloutTarget) {
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

export function rolloutView(r: Rollout, c: RolloutCounts) {
  const outcomes = c.recentFailed + c.recentSucceeded;
  return {
    id: r.id,
    version: r.version,
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
    /** Since the threshold last started afresh (creation, or resuming a halt). */
    failure_rate: outcomes === 0 ? null : Number((c.recentFailed / outcomes).toFixed(4)),
    outcomes_since: iso(r.outcomesSince),
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
  };
}

export function sessionView(s: OtaSession) {
  return {
    id: s.id,
    device_id: s.deviceId,
    rollout_id: s.rolloutId,
    version: s.version,
    from_version: s.fromVersion,
    state: s.state,
    rollout_step: s.rolloutStep,
    client: s.client,
    total_chunks: s.totalChunks,
    next_chunk: s.nextChunk,
    chunks_served: s.chunksServed,
    restarts: s.restarts,
    progress_percent: progressPercentage(Math.min(s.nextChunk, s.totalChunks), s.totalChunks),
    phase: s.phase,
    outcome: s.outcome,
    started_at: iso(s.startedAt),
    last_chunk_at: iso(s.lastChunkAt),
    updated_at: iso(s.updatedAt),
    finished_at: iso(s.finishedAt),
  };
}
