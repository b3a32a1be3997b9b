import { describe, expect, it } from 'vitest';
import {
  cohortBucket,
  decide,
  decidingRollout,
  haltReason,
  nextStepDue,
  targets,
  validSteps,
} from '../../../src/firmware/rollout-rules.js';
import {
  EMPTY_ROLLOUT_COUNTS,
  type OtaSession,
  type Rollout,
  type RolloutCounts,
} from '../../../src/model/firmware.js';

const rollout = (over: Partial<Rollout> = {}): Rollout => ({
  id: 1,
  version: '1.0.10',
  target: { kind: 'all' },
  stepIndex: 0,
  stepStartedAt: 0,
  pinned: false,
  failureThreshold: 0.2,
  minOutcomes: 5,
  outcomesSince: 0,
  state: 'active',
  stateReason: null,
  createdAt: 0,
  updatedAt: 0,
  ...over,
});

const session = (over: Partial<OtaSession> = {}): OtaSession => ({
  id: 1,
  deviceId: 'd1',
  rolloutId: 1,
  version: '1.0.10',
  fromVersion: '1.0.9',
  state: 'downloading',
  rolloutStep: 0,
  client: 'field',
  totalChunks: 10,
  nextChunk: 3,
  maxChunk: 2,
  chunksServed: 3,
  restarts: 0,
  phase: null,
  outcome: null,
  outcomeAuthenticated: null,
  startedAt: 0,
  lastChunkAt: 0,
  updatedAt: 0,
  finishedAt: null,
  ...over,
});

const counts = (over: Partial<RolloutCounts> = {}): RolloutCounts => ({ ...EMPTY_ROLLOUT_COUNTS, ...over });

describe('offers', () => {
  it('offers 1.0.10 to a device on 1.0.9 (semantic, not string, order)', () => {
    expect(decide(rollout(), '1.0.9', undefined)).toEqual({ kind: 'offer', resume: false });
  });

  it('never offers a downgrade unless the rollout pins it', () => {
    const old = rollout({ version: '1.0.9' });
    expect(decide(old, '1.0.10', undefined)).toMatchObject({ kind: 'none' });
    expect(decide({ ...old, pinned: true }, '1.0.10', undefined)).toEqual({ kind: 'offer', resume: false });
  });

  it('offers nothing to a device already on the version, or on an unknown version scheme', () => {
    expect(decide(rollout(), '1.0.10', undefined)).toMatchObject({ kind: 'none' });
    expect(decide(rollout(), '1.0.10+local', undefined)).toMatchObject({ kind: 'none' });
    expect(decide(rollout(), 'v1-beta', undefined)).toMatchObject({ kind: 'none' });
  });

  it('offers a pre-release only over an older pre-release or release', () => {
    const rc = rollout({ version: '1.1.0-rc.2' });
    expect(decide(rc, '1.1.0-rc.1', undefined).kind).toBe('offer');
    expect(decide(rc, '1.1.0', undefined).kind).toBe('none');
  });

  it('lets a started download resume while paused or halted, but starts none', () => {
    for (const state of ['paused', 'halted'] as const) {
      expect(decide(rollout({ state }), '1.0.9', session())).toEqual({ kind: 'offer', resume: true });
      expect(decide(rollout({ state }), '1.0.9', undefined)).toMatchObject({ kind: 'none' });
    }
  });

  it('settles a session from what the device reports running', () => {
    expect(decide(rollout(), '1.0.10', session({ state: 'downloaded' }))).toMatchObject({
      kind: 'settle',
      outcome: 'succeeded',
    });
    expect(decide(rollout(), '1.0.9', session({ state: 'verified' }))).toMatchObject({
      kind: 'settle',
      outcome: 'failed',
    });
    expect(decide(rollout(), '1.0.9', session({ state: 'failed', outcome: 'chunk 3' }))).toMatchObject({
      kind: 'none',
    });
  });
});

describe('which rollout decides', () => {
  const groups = new Set(['pilot']);

  it('is the newest covering one, whatever its state; aborted ones no longer count', () => {
    const a = rollout({ id: 1, version: '1.0.2', pinned: true });
    const b = rollout({ id: 2, version: '1.0.5', state: 'paused' });
    expect(decidingRollout([a, b], 'd1', groups)?.id).toBe(2);
    expect(decidingRollout([a, { ...b, state: 'aborted' }], 'd1', groups)?.id).toBe(1);
  });

  it('targets groups, lists and a growing percentage', () => {
    expect(targets(rollout({ target: { kind: 'group', group: 'pilot' } }), 'd1', groups)).toBe(true);
    expect(targets(rollout({ target: { kind: 'group', group: 'other' } }), 'd1', groups)).toBe(false);
    expect(targets(rollout({ target: { kind: 'devices', devices: ['d2'] } }), 'd1', groups)).toBe(false);
    const pct = rollout({ target: { kind: 'percentage', steps: [25, 100], stepWaitMs: 0 } });
    const ids = Array.from({ length: 4000 }, (_, i) => `dev-${i}`);
    const first = ids.filter((id) => targets(pct, id, groups));
    expect(first.length / ids.length).toBeGreaterThan(0.22);
    expect(first.length / ids.length).toBeLessThan(0.28);
    // Growing keeps everyone already in.
    const grown = { ...pct, stepIndex: 1 };
    expect(first.every((id) => targets(grown, id, groups))).toBe(true);
    expect(ids.every((id) => targets(grown, id, groups))).toBe(true);
  });

  it('keeps a device in the rollout it began in', () => {
    const r = rollout({ target: { kind: 'devices', devices: ['other'] } });
    expect(decidingRollout([r], 'd1', groups)).toBeUndefined();
    expect(decidingRollout([r], 'd1', groups, new Set([1]))?.id).toBe(1);
  });

  it('buckets devices independently per rollout', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `dev-${i}`);
    const same = ids.filter((id) => cohortBucket(1, id) === cohortBucket(2, id)).length;
    expect(same).toBeLessThan(5);
  });
});

describe('halting and growing', () => {
  it('halts once enough outcomes show a failure rate above the threshold', () => {
    const r = rollout({ failureThreshold: 0.2, minOutcomes: 5 });
    expect(haltReason(r, counts({ recentFailed: 4, recentSucceeded: 0 }))).toBeNull();
    expect(haltReason(r, counts({ recentFailed: 1, recentSucceeded: 4 }))).toBeNull();
    expect(haltReason(r, counts({ recentFailed: 2, recentSucceeded: 4 }))).toMatch(/33\.3 %.*2 of 6/);
  });

  it('grows a percentage after its soak time, with nothing in flight and no halt', () => {
    const r = rollout({
      target: { kind: 'percentage', steps: [10, 50, 100], stepWaitMs: 1000 },
      stepStartedAt: 0,
    });
    expect(nextStepDue(r, counts(), 999)).toBe(false);
    expect(nextStepDue(r, counts({ inFlight: 1 }), 5000)).toBe(false);
    expect(nextStepDue(r, counts(), 5000)).toBe(true);
    expect(nextStepDue({ ...r, stepIndex: 2 }, counts(), 5000)).toBe(false);
    expect(nextStepDue({ ...r, state: 'paused' }, counts(), 5000)).toBe(false);
    expect(nextStepDue(r, counts({ recentFailed: 5 }), 5000)).toBe(false);
  });

  it('accepts only increasing steps in (0, 100]', () => {
    expect(validSteps([5, 25, 50, 100])).toBe(true);
    expect(validSteps([50, 25])).toBe(false);
    expect(validSteps([0, 100])).toBe(false);
    expect(validSteps([])).toBe(false);
  });
});
