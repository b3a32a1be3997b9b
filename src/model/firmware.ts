/**
 * The firmware capability's model: catalogue images, rollouts, device update sessions. Why here:
 * the firmware store port, the firmware services, the admin and device routes and the adapters
 * all name these; at the bottom of the source tree so the port never imports the feature.
 */
import type { Generation } from './device.js';

/**
 * The firmware generation an image is prepared for: the generation of the devices that DOWNLOAD
 * it (its key set and update protocol), whatever the image itself is. One version may be
 * catalogued once per generation; a rollout of a version offers each device its own
 * generation's image.
 */
export type { Generation } from './device.js';

/** A catalogued image: its manifest fields (§6.1) and where its ciphertext lives. */
export interface FirmwareImage {
  version: string;
  generation: Generation;
  originalSize: number;
  encryptedSize: number;
  chunkSize: number;
  totalChunks: number;
  sha256: string;
  /** base64 */
  signature: string;
  /** base64 */
  iv: string;
  /** Fingerprint of the key set the image was prepared with (see firmware-keys.ts). */
  keyId: string;
  notes: string | null;
  /** Accepted although its first byte is not the ESP32 image magic. */
  forced: boolean;
  /** Relative to the data directory. */
  encryptedFile: string;
  manifestFile: string;
  createdAt: number;
}

export type RolloutTarget =
  | { kind: 'all' }
  | { kind: 'group'; group: string }
  | { kind: 'devices'; devices: string[] }
  /** A share of the whole fleet that grows through `steps` (percentages, increasing). */
  | { kind: 'percentage'; steps: number[]; stepWaitMs: number };

/**
 * `active` offers the version; `paused` and `halted` (failure threshold passed) let downloads in
 * progress finish but start none; `aborted` stops everything and no longer decides anything.
 */
export type RolloutState = 'active' | 'paused' | 'halted' | 'aborted';

export interface Rollout {
  id: number;
  version: string;
  target: RolloutTarget;
  stepIndex: number;
  stepStartedAt: number;
  /** Offer this version even to devices running a newer one (a deliberate downgrade). */
  pinned: boolean;
  /** Halt when failed / (failed + succeeded) passes this, once `minOutcomes` are known. */
  failureThreshold: number;
  minOutcomes: number;
  /** Outcomes before this time no longer count towards the threshold (reset when a halt is resumed). */
  outcomesSince: number;
  state: RolloutState;
  stateReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export type NewRollout = Omit<
  Rollout,
  'id' | 'stepIndex' | 'stepStartedAt' | 'outcomesSince' | 'state' | 'stateReason' | 'updatedAt'
>;

/**
 * `downloading` → `downloaded` (last chunk served) → `verified` (the device said its checks
 * passed) → `succeeded` (it runs the version); or `failed` (it said so, or came back on the old
 * version after downloading); `cancelled` when its rollout was aborted.
 */
export type SessionState = 'downloading' | 'downloaded' | 'verified' | 'succeeded' | 'failed' | 'cancelled';

export const OPEN_SESSION_STATES: readonly SessionState[] = ['downloading', 'downloaded', 'verified'];

/**
 * Which protocol generation the device speaks: e84f720 (`POST /ota/check`, `/ota/chunk`) or 1.3
 * (`GET /ota/check/<id>`, `/ota/chunk/<id>`). The stored names predate generation 1.3.
 */
export type SessionClient = 'field' | 'later';

/** The generation whose image a session of this client downloads. */
export function clientGeneration(client: SessionClient): Generation {
  return client === 'later' ? '1.3' : 'e84f720';
}

export function generationClient(generation: Generation): SessionClient {
  return generation === '1.3' ? 'later' : 'field';
}

export interface OtaSession {
  id: number;
  deviceId: string;
  rolloutId: number;
  version: string;
  fromVersion: string | null;
  state: SessionState;
  /** The rollout step in force when the session began. */
  rolloutStep: number;
  client: SessionClient;
  totalChunks: number;
  /** The chunk after the last one served: where the device stands. */
  nextChunk: number;
  /** Highest chunk ever served (-1: none). */
  maxChunk: number;
  chunksServed: number;
  /** Times the device went back to chunk 0 after having progressed (the field firmware never resumes). */
  restarts: number;
  /** Last phase the device reported (HEAD firmware progress reports). */
  phase: string | null;
  outcome: string | null;
  /**
   * Whether the request that settled the outcome was authenticated (an envelope); `false`: a bare
   * request, shown but never counted toward the failure threshold; `null`: no outcome yet.
   */
  outcomeAuthenticated: boolean | null;
  startedAt: number;
  lastChunkAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
}

export interface RolloutCounts {
  sessions: number;
  downloading: number;
  downloaded: number;
  verified: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Open sessions with recent activity: they hold a percentage step back. */
  inFlight: number;
  /**
   * Authenticated outcomes since the rollout's `outcomesSince`: what the failure threshold judges.
   * Outcomes reported by bare requests are never among them (see the `…Unauthenticated` counts).
   */
  recentSucceeded: number;
  recentFailed: number;
  /** Outcomes since `outcomesSince` reported by bare requests: shown, never counted toward a halt. */
  recentUnauthenticatedSucceeded: number;
  recentUnauthenticatedFailed: number;
}

/** A rollout's counts before any session. */
export const EMPTY_ROLLOUT_COUNTS: Readonly<RolloutCounts> = Object.freeze({
  sessions: 0,
  downloading: 0,
  downloaded: 0,
  verified: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  inFlight: 0,
  recentSucceeded: 0,
  recentFailed: 0,
  recentUnauthenticatedSucceeded: 0,
  recentUnauthenticatedFailed: 0,
});

export type SessionOutcome = (
  | { kind: 'verified' }
  | { kind: 'succeeded'; detail: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'phase'; phase: string }
) & {
  /** Reported by a bare (unsigned) request: marked on the session, not counted toward a halt. */
  unauthenticated?: boolean;
};
