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
}
