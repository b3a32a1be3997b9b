/**
 * The behaviour every FirmwareStore adapter must have for firmware generations and unauthenticated
 * outcomes: one image per (version, generation), sessions sized by their generation's image,
 * outcomes reported bare stored as such and never counted toward a halt. Each adapter's test file
 * calls `firmwareStoreContract` with a factory for a fresh, empty store.
 */
import { describe, expect, it } from 'vitest';
import type { FirmwareImage, Generation, NewRollout } from '../../src/model/firmware.js';
import type { FirmwareStore } from '../../src/ports/firmware-store.js';

export interface OpenedFirmwareStore {
  store: FirmwareStore;
  close(): Promise<void>;
}

const audit = (action: string) => ({ time: 1, actor: 'test', action, deviceId: null, reason: null });

export function firmwareImage(
  version: string,
  generation: Generation,
  over: Partial<FirmwareImage> = {},
): FirmwareImage {
  return {
    version,
    generation,
    originalSize: 3000,
    encryptedSize: 3008,
    chunkSize: 1024,
    totalChunks: 3,
    sha256: 'ab'.repeat(32),
    signature: 'c2lnbmF0dXJl',
    iv: 'AAAAAAAAAAAAAAAAAAAAAA==',
    keyId: `key-${generation}`,
    notes: null,
    forced: false,
    encryptedFile: `firmware/firmware_${version}_${generation}_encrypted.bin`,
    manifestFile: `firmware/firmware_${version}_${generation}_manifest.json`,
    createdAt: 1000,
    ...over,
  };
}

export const newRollout = (version: string, over: Partial<NewRollout> = {}): NewRollout => ({
  version,
  target: { kind: 'all' },
  pinned: false,
  failureThreshold: 0.3,
  minOutcomes: 2,
  createdAt: 2000,
  ...over,
});

export function firmwareStoreContract(name: string, open: () => Promise<OpenedFirmwareStore>): void {
  const withStore = (fn: (store: FirmwareStore) => Promise<void>) => async () => {
    const s = await open();
    try {
      await fn(s.store);
    } finally {
      await s.close();
    }
  };

  describe(`${name}: firmware generations`, () => {
    it(
      'holds one image per version and generation',
      withStore(async (store) => {
        expect(
          await store.insertImage(firmwareImage('1.4.0', 'e84f720'), audit('firmware.added')),
        ).toMatchObject({
          generation: 'e84f720',
        });
        expect(
          await store.insertImage(firmwareImage('1.4.0', '1.3', { totalChunks: 5 }), audit('firmware.added')),
        ).toMatchObject({ generation: '1.3' });
        expect(
          await store.insertImage(firmwareImage('1.4.0', '1.3'), audit('firmware.added')),
        ).toBeUndefined();
        expect(await store.getImage('1.4.0', '1.3')).toEqual(
          firmwareImage('1.4.0', '1.3', { totalChunks: 5 }),
        );
        expect(await store.getImage('1.4.0', 'e84f720')).toEqual(firmwareImage('1.4.0', 'e84f720'));
        expect(await store.getImage('1.5.0', 'e84f720')).toBeUndefined();
        expect((await store.listImages()).map((i) => `${i.version}/${i.generation}`).sort()).toEqual([
          '1.4.0/1.3',
          '1.4.0/e84f720',
        ]);
      }),
    );

    it(
      'rolls out a version that exists for one generation only, sizing sessions by their own image',
      withStore(async (store) => {
        await store.insertImage(firmwareImage('2.0.0', '1.3', { totalChunks: 7 }), audit('firmware.added'));
        const r = await store.createRollout(newRollout('2.0.0'), audit('rollout.created'));
        const s = await store.openSession({
          deviceId: 'd13',
          rolloutId: r.id,
          fromVersion: '1.3.4',
          client: 'later',
          now: 3000,
        });
        expect(s).toMatchObject({
          version: '2.0.0',
          totalChunks: 7,
          client: 'later',
          outcomeAuthenticated: null,
        });
        // No e84f720 image of 2.0.0: a field session cannot be opened.
        await expect(
          store.openSession({
            deviceId: 'dfield',
            rolloutId: r.id,
            fromVersion: '1.0.0',
            client: 'field',
            now: 3000,
          }),
        ).rejects.toThrow();
        await store.insertImage(
          firmwareImage('2.0.0', 'e84f720', { totalChunks: 2 }),
          audit('firmware.added'),
        );
        expect(
          await store.openSession({
            deviceId: 'dfield',
            rolloutId: r.id,
            fromVersion: '1.0.0',
            client: 'field',
            now: 3000,
          }),
        ).toMatchObject({ totalChunks: 2, client: 'field' });
      }),
    );

    it(
      'stores bare outcomes as such, never halts on them, and never lets them overturn an authenticated one',
      withStore(async (store) => {
        await store.insertImage(firmwareImage('3.0.0', '1.3'), audit('firmware.added'));
        const r = await store.createRollout(newRollout('3.0.0'), audit('rollout.created'));
        const session = (deviceId: string) =>
          store.openSession({ deviceId, rolloutId: r.id, fromVersion: '1.3.4', client: 'later', now: 3000 });
        for (const d of ['a', 'b', 'c']) {
          const s = await session(d);
          const u = await store.recordOutcome(
            s.id,
            { kind: 'failed', detail: 'forged', unauthenticated: true },
            4000,
          );
          expect(u.session).toMatchObject({ state: 'failed', outcomeAuthenticated: false });
          expect(u.rollout.state).toBe('active');
        }
        let c = await store.counts(r.id, 5000);
        expect(c).toMatchObject({
          failed: 3,
          recentFailed: 0,
          recentSucceeded: 0,
          recentUnauthenticatedFailed: 3,
          recentUnauthenticatedSucceeded: 0,
        });

        const d = await session('d');
        await store.recordOutcome(d.id, { kind: 'failed', detail: 'real' }, 4000);
        const over = await store.recordOutcome(
          d.id,
          { kind: 'succeeded', detail: 'fake', unauthenticated: true },
          4100,
        );
        expect(over.session).toMatchObject({ state: 'failed', outcome: 'real', outcomeAuthenticated: true });
        const e = await session('e');
        await store.recordOutcome(e.id, { kind: 'succeeded', detail: 'ok', unauthenticated: true }, 4200);
        c = await store.counts(r.id, 5000);
        expect(c).toMatchObject({ recentFailed: 1, recentUnauthenticatedSucceeded: 1, recentSucceeded: 0 });
        expect((await store.getRollout(r.id))?.state).toBe('active');

        // The second authenticated failure crosses the threshold (2 of 2 > 30 %).
        const f = await session('f');
        const halted = await store.recordOutcome(f.id, { kind: 'failed', detail: 'real' }, 4300);
        expect(halted.rollout.state).toBe('halted');
        expect(halted.rollout.stateReason).toMatch(/\(2 of 2\)/);
      }),
    );
  });

  describe(`${name}: sessions, rollouts and groups`, () => {
    const at = (time: number, action: string) => ({ ...audit(action), time });

    it(
      'serves chunks: progress, restarts, the last chunk, and the same session when opened again',
      withStore(async (store) => {
        await store.insertImage(firmwareImage('4.0.0', 'e84f720'), audit('firmware.added'));
        const r = await store.createRollout(newRollout('4.0.0'), audit('rollout.created'));
        const input = {
          deviceId: 'dev',
          rolloutId: r.id,
          fromVersion: '3.9.0',
          client: 'field',
          now: 3000,
        } as const;
        const s = await store.openSession(input);
        expect(s).toMatchObject({ state: 'downloading', nextChunk: 0, maxChunk: -1, chunksServed: 0 });
        expect((await store.openSession({ ...input, now: 3500 })).id).toBe(s.id);
        await store.recordChunk(s.id, 0, 3100);
        expect(await store.recordChunk(s.id, 1, 3200)).toMatchObject({ nextChunk: 2, maxChunk: 1 });
        expect(await store.recordChunk(s.id, 0, 3300)).toMatchObject({
          nextChunk: 1,
          maxChunk: 1,
          restarts: 1,
          state: 'downloading',
        });
        expect(await store.recordChunk(s.id, 2, 3400)).toMatchObject({ state: 'downloaded', maxChunk: 2 });
        expect(await store.recordChunk(s.id, 1, 3500)).toMatchObject({
          state: 'downloaded',
          nextChunk: 2,
          maxChunk: 2,
          chunksServed: 5,
          lastChunkAt: 3500,
        });
        expect(await store.getSession('dev', r.id)).toMatchObject({ id: s.id, chunksServed: 5 });
        expect(await store.sessionRolloutsOf('dev')).toEqual(new Set([r.id]));
        expect(
          (await store.listSessions({ rolloutId: r.id, deviceId: 'dev', limit: 5 })).map((x) => x.id),
        ).toEqual([s.id]);
        expect(await store.listSessions({ deviceId: 'other', limit: 5 })).toEqual([]);
        await expect(store.recordChunk(9999, 0, 3600)).rejects.toThrow('no update session 9999');
        await expect(store.recordOutcome(9999, { kind: 'phase', phase: 'x' }, 3600)).rejects.toThrow(
          'no update session 9999',
        );
      }),
    );

    it(
      'pauses, resumes and aborts a rollout, refusing what its state does not allow',
      withStore(async (store) => {
        await store.insertImage(firmwareImage('5.0.0', 'e84f720'), audit('firmware.added'));
        const r = await store.createRollout(newRollout('5.0.0'), audit('rollout.created'));
        const s = await store.openSession({
          deviceId: 'dev',
          rolloutId: r.id,
          fromVersion: '4.0.0',
          client: 'field',
          now: 3000,
        });
        expect(await store.changeRollout(9999, 'pause', at(4000, 'rollout.paused'))).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect(await store.changeRollout(r.id, 'pause', at(4000, 'rollout.paused'))).toMatchObject({
          ok: true,
          rollout: { state: 'paused', updatedAt: 4000 },
        });
        expect(await store.changeRollout(r.id, 'pause', at(4100, 'rollout.paused'))).toMatchObject({
          ok: false,
          reason: 'invalid_state',
          rollout: { state: 'paused' },
        });
        expect(await store.changeRollout(r.id, 'resume', at(4200, 'rollout.resumed'))).toMatchObject({
          ok: true,
          rollout: { state: 'active', stepStartedAt: 4200, outcomesSince: 2000 },
        });
        expect(await store.changeRollout(r.id, 'abort', at(4300, 'rollout.aborted'))).toMatchObject({
          ok: true,
          rollout: { state: 'aborted' },
        });
        expect(await store.getSession('dev', s.rolloutId)).toMatchObject({
          state: 'cancelled',
          outcome: 'rollout aborted',
          finishedAt: 4300,
        });
        expect(await store.changeRollout(r.id, 'resume', at(4400, 'rollout.resumed'))).toMatchObject({
          ok: false,
          reason: 'invalid_state',
        });
        expect(await store.evaluateRollout(r.id, 9_000_000)).toMatchObject({ state: 'aborted' });
        expect(await store.evaluateRollout(9999, 9_000_000)).toBeUndefined();
      }),
    );

    it(
      'grows a percentage rollout once its step has soaked; resuming a halt counts outcomes afresh',
      withStore(async (store) => {
        await store.insertImage(firmwareImage('6.0.0', 'e84f720'), audit('firmware.added'));
        const r = await store.createRollout(
          newRollout('6.0.0', { target: { kind: 'percentage', steps: [10, 50, 100], stepWaitMs: 1000 } }),
          audit('rollout.created'),
        );
        expect(await store.evaluateRollout(r.id, 2500)).toMatchObject({ stepIndex: 0 });
        expect(await store.evaluateRollout(r.id, 3100)).toMatchObject({ stepIndex: 1, stepStartedAt: 3100 });
        expect((await store.listRollouts()).map((x) => [x.id, x.stepIndex])).toEqual([[r.id, 1]]);

        const fail = async (deviceId: string, now: number) => {
          const s = await store.openSession({
            deviceId,
            rolloutId: r.id,
            fromVersion: '5.0.0',
            client: 'field',
            now,
          });
          return store.recordOutcome(s.id, { kind: 'failed', detail: 'boot' }, now);
        };
        await fail('a', 3200);
        expect((await fail('b', 3300)).rollout).toMatchObject({ state: 'halted', stepIndex: 1 });
        expect(await store.changeRollout(r.id, 'resume', at(3400, 'rollout.resumed'))).toMatchObject({
          ok: true,
          rollout: { state: 'active', outcomesSince: 3400 },
        });
        expect((await store.counts(r.id, 3500)).recentFailed).toBe(0);
        expect((await store.evaluateRollout(r.id, 3500))?.state).toBe('active');
      }),
    );

    it(
      'replaces group members and keeps the version each device reported last',
      withStore(async (store) => {
        expect(await store.setGroup('beta', ['b', 'a', 'a'], audit('group.set'))).toEqual(['a', 'b']);
        await store.setGroup('canary', ['a'], audit('group.set'));
        expect(await store.groupsOf('a')).toEqual(new Set(['beta', 'canary']));
        expect(await store.setGroup('beta', ['c'], audit('group.set'))).toEqual(['c']);
        expect(await store.listGroups()).toEqual(
          new Map([
            ['beta', ['c']],
            ['canary', ['a']],
          ]),
        );
        expect(await store.setGroup('beta', [], audit('group.set'))).toEqual([]);
        expect([...(await store.listGroups()).keys()]).toEqual(['canary']);

        expect(await store.reportedVersion('a')).toBeUndefined();
        await store.reportVersion('a', '1.0.0', 1000);
        await store.reportVersion('a', '1.1.0', 2000);
        expect(await store.reportedVersion('a')).toEqual({ version: '1.1.0', reportedAt: 2000 });
      }),
    );
  });
}
