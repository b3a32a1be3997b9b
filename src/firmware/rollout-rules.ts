/**
 * The rollout decisions, pure: which rollout decides for a device, whether it offers its version,
 * when a percentage grows and when a rollout halts. The store applies them inside its write
 * transactions; tests call them directly.
 */
import { createHash } from 'node:crypto';
import type { OtaSession, Rollout, RolloutCounts, SessionOutcome } from '../model/firmware.js';
import { compareVersions, parseSemver } from '../protocol/firmware/semver.js';

/** Percentage steps when an administrator gives none. */
export const DEFAULT_STEPS: readonly number[] = [5, 25, 50, 100];
export const DEFAULT_STEP_WAIT_MS = 3_600_000;
export const DEFAULT_FAILURE_THRESHOLD = 0.2;
export const DEFAULT_MIN_OUTCOMES = 5;
/** An open session without activity for this long no longer holds its rollout's next step back. */
export const STALLED_AFTER_MS = 6 * 3_600_000;

/**
 * A device's place in a rollout's percentage, 0 … 9999: stable for the rollout, independent
 * between rollouts (so the same devices are not always first), as Unleash buckets users.
 */
export function cohortBucket(rolloutId: number, deviceId: string): number {
  return createHash('sha256').update(`${rolloutId}:${deviceId}`).digest().readUInt32BE(0) % 10_000;
}

export function currentPercent(r: Rollout): number | null {
  return r.target.kind === 'percentage'
    ? r.target.steps[Math.min(r.stepIndex, r.target.steps.length - 1)]
    : null;
}

/** Whether the rollout, at its current step, covers the device. */
export function targets(r: Rollout, deviceId: string, groups: ReadonlySet<string>): boolean {
  switch (r.target.kind) {
    case 'all':
      return true;
    case 'group':
      return groups.has(r.target.group);
    case 'devices':
      return r.target.devices.includes(deviceId);
    case 'percentage':
      return cohortBucket(r.id, deviceId) < (currentPercent(r) ?? 0) * 100;
  }
}

/**
 * The newest rollout that covers the device decides for it, whatever its state; aborted ones no
 * longer count. (Falling back to an older rollout while a newer one is paused could reinstate an
 * old pinned downgrade.)
 */
export function decidingRollout(
  rollouts: readonly Rollout[],
  deviceId: string,
  groups: ReadonlySet<string>,
  sessionRollouts: ReadonlySet<number> = new Set(),
): Rollout | undefined {
  let best: Rollout | undefined;
  for (const r of rollouts) {
    if (r.state === 'aborted') continue;
    // A device that began in a rollout stays covered by it even if its targeting changed.
    if (!targets(r, deviceId, groups) && !sessionRollouts.has(r.id)) continue;
    if (!best || r.id > best.id) best = r;
  }
  return best;
}

export type Decision =
  | { kind: 'offer'; resume: boolean }
  | { kind: 'none'; reason: string }
  /** The device's report settles its open session. */
  | { kind: 'settle'; outcome: 'succeeded' | 'failed'; detail: string; reason: string };

/**
 * What a device running `current` gets from the rollout that decides for it, given its session
 * in that rollout (if any).
 */
export function decide(r: Rollout, current: string, session: OtaSession | undefined): Decision {
  const cmp = compareVersions(r.version, current);
  if (session && session.state !== 'cancelled') {
    const open =
      session.state === 'downloading' || session.state === 'downloaded' || session.state === 'verified';
    if (cmp === 0 && (open || session.state === 'succeeded')) {
      return open
        ? {
            kind: 'settle',
            outcome: 'succeeded',
            detail: `running ${current}`,
            reason: `already running ${current}`,
          }
        : { kind: 'none', reason: `already running ${current}` };
    }
    if (session.state === 'succeeded')
      return { kind: 'none', reason: `updated to ${r.version} in rollout ${r.id}` };
    if (session.state === 'failed') {
      return {
        kind: 'none',
        reason: `update to ${r.version} failed in rollout ${r.id}: ${session.outcome ?? ''}`,
      };
    }
    if (session.state !== 'downloading') {
      // Everything was downloaded, yet the device is back on another version: install or boot failed.
      const detail = `downloaded ${r.version} but reports ${current}`;
      return { kind: 'settle', outcome: 'failed', detail, reason: detail };
    }
    if (r.state === 'aborted') return { kind: 'none', reason: `rollout ${r.id} was aborted` };
    return { kind: 'offer', resume: true };
  }
  if (r.state !== 'active') return { kind: 'none', reason: `rollout ${r.id} is ${r.state}` };
  if (!parseSemver(current))
    return { kind: 'none', reason: `current_version "${current}" is not a semantic version` };
  if (cmp === 0) return { kind: 'none', reason: `already running ${current}` };
  if (cmp !== undefined && cmp < 0 && !r.pinned) {
    return { kind: 'none', reason: `running ${current}, newer than ${r.version} (not pinned)` };
  }
  return { kind: 'offer', resume: false };
}

/**
 * Why the rollout must stop, if its failure rate passed the threshold. Only authenticated outcomes
 * count (`recentFailed`, `recentSucceeded`): a bare request can be forged by anyone on the path, so
 * outcomes reported bare neither halt a rollout nor dilute real failures (see `unauthenticatedHold`).
 */
export function haltReason(r: Rollout, c: RolloutCounts): string | null {
  const outcomes = c.recentFailed + c.recentSucceeded;
  if (outcomes < r.minOutcomes || outcomes === 0) return null;
  const rate = c.recentFailed / outcomes;
  if (rate <= r.failureThreshold) return null;
  return `failure rate ${(rate * 100).toFixed(1)} % (${c.recentFailed} of ${outcomes}) passed the threshold of ${(
    r.failureThreshold * 100
  ).toFixed(1)} %`;
}

/**
 * Outcomes reported by bare requests never halt a rollout, but when they alone would pass the
 * threshold a percentage rollout does not grow: at worst a forger delays a rollout, and a fleet
 * that can only report bare (generation 1.3) still stops spreading a bad image. Shown as a warning.
 */
export function unauthenticatedHold(r: Rollout, c: RolloutCounts): string | null {
  const outcomes = c.recentUnauthenticatedFailed + c.recentUnauthenticatedSucceeded;
  if (outcomes < r.minOutcomes || outcomes === 0) return null;
  const rate = c.recentUnauthenticatedFailed / outcomes;
  if (rate <= r.failureThreshold) return null;
  return `unauthenticated reports: ${c.recentUnauthenticatedFailed} of ${outcomes} failed (${(rate * 100).toFixed(1)} %, above ${(
    r.failureThreshold * 100
  ).toFixed(1)} %); not counted toward a halt, but the rollout does not grow`;
}

/** A percentage rollout grows once its step has soaked and nothing started in it is still running. */
export function nextStepDue(r: Rollout, c: RolloutCounts, now: number): boolean {
  if (r.state !== 'active' || r.target.kind !== 'percentage') return false;
  if (r.stepIndex >= r.target.steps.length - 1) return false;
  if (now - r.stepStartedAt < r.target.stepWaitMs) return false;
  return c.inFlight === 0 && haltReason(r, c) === null && unauthenticatedHold(r, c) === null;
}

export const isOpenSession = (s: Pick<OtaSession, 'state'>): boolean =>
  s.state === 'downloading' || s.state === 'downloaded' || s.state === 'verified';

/** What a report changes on its session; both stores apply it in their write transaction. */
export type OutcomeWrite =
  | { kind: 'none' }
  | { kind: 'phase'; phase: string }
  | { kind: 'verified'; phase: string | null }
  | { kind: 'finish'; state: 'succeeded' | 'failed'; detail: string; authenticated: boolean };

export function outcomeWrite(s: OtaSession, o: SessionOutcome): OutcomeWrite {
  const open = isOpenSession(s);
  if (o.kind === 'phase') return { kind: 'phase', phase: o.phase };
  if (o.kind === 'verified') return open ? { kind: 'verified', phase: null } : { kind: 'none' };
  if (!open && s.state !== 'failed') return { kind: 'none' };
  const authenticated = o.unauthenticated !== true;
  if (s.state === 'failed') {
    // A device may correct a failure it reported (it retried and now runs the version), but a
    // bare report never overturns what an authenticated one said.
    if (o.kind !== 'succeeded') return { kind: 'none' };
    if (s.outcomeAuthenticated === true && !authenticated) return { kind: 'none' };
  }
  return { kind: 'finish', state: o.kind, detail: o.detail, authenticated };
}

/**
 * The 1.3 firmware's boot report (`POST /ota/<id>/complete`, PROTOCOL-1.3.md §8.5): sent after
 * EVERY boot, naming the version it now runs and the state of its image (`success`,
 * `pending_verify`, `rolled_back`, `failed`). Given the device's open session, what it means:
 * success on the session's version settles it; `pending_verify` is not a failure (it booted the
 * image, not yet confirmed: the session waits); a boot on another version after the download
 * completed is a failed install; a reboot in the middle of a download means nothing.
 */
export function bootOutcome(
  s: Pick<OtaSession, 'state' | 'version'>,
  running: string,
  status: string,
  detail: string,
): SessionOutcome | null {
  const st = status.toLowerCase();
  if (st === 'rolled_back' || st === 'rollback' || st === 'failed' || st === 'failure' || st === 'error') {
    return { kind: 'failed', detail: `${st}: ${detail}` };
  }
  const same = compareVersions(running, s.version) === 0 || running === s.version;
  if (st === 'pending_verify') {
    return same ? { kind: 'phase', phase: 'pending_verify' } : null;
  }
  if (same) return { kind: 'succeeded', detail: `booted ${running} (${st})` };
  if (s.state === 'downloading') return null;
  return { kind: 'failed', detail: `downloaded ${s.version} but booted ${running} (${st})` };
}

export function validSteps(steps: readonly number[]): boolean {
  return (
    steps.length > 0 &&
    steps.every((s, i) => Number.isFinite(s) && s > 0 && s <= 100 && (i === 0 || s > steps[i - 1]))
  );
}
