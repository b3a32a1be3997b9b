/** The firmware capability's model: catalogue images, rollouts, device update sessions. */

/** A catalogued image: its manifest fields (§6.1) and where its ciphertext lives. */
export interface FirmwareImage {
  version: string;
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

/** Which protocol generation the device speaks: e84f720 (`/ota/chunk`) or HEAD (`/ota/chunk/<id>`). */
export type SessionClient = 'field' | 'later';

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
  /** Outcomes since the rollout's `outcomesSince`: what the failure threshold judges. */
  recentSucceeded: number;
  recentFailed: number;
}

export type SessionOutcome =
  | { kind: 'verified' }
  | { kind: 'succeeded'; detail: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'phase'; phase: string };
