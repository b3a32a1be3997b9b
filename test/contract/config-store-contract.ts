/**
 * The behaviour every ConfigStore adapter must have, as ConfigService relies on it: fleet and
 * device scopes with numbered versions and their history, cross-key rules checked in the store's
 * transaction (a refused patch stores nothing), removing a key so the device inherits again,
 * withdrawals, what `/changes` and `GET /config` answers carried (deliveries), what 1.3 devices
 * reported, and the upload traces the cadence is read from. Each adapter's test file calls
 * `configStoreContract` with a factory for a fresh, empty store and the Storage it shares a
 * database with (for the audit log and for committing uploads).
 */
import { describe, expect, it } from 'vitest';
import { checkConfig, mergeConfig } from '../../src/config/config-schema.js';
import type { ConfigPatch } from '../../src/model/config.js';
import type {
  ConfigChangeOutcome,
  ConfigChangeRequest,
  ConfigScope,
  ConfigStore,
} from '../../src/ports/config-store.js';
import type { Storage, UploadCommit } from '../../src/ports/storage.js';
import { uploadCommit } from '../helpers/upload-commit.js';

export interface OpenedConfigStore {
  store: ConfigStore;
  /** The Storage of the same database. */
  storage: Pick<Storage, 'listAudit' | 'commitUpload'>;
  close(): Promise<void>;
}

/** Times as the server writes them (ms since the epoch, far beyond 32 bits). */
const T0 = 1_760_000_000_000;

type Changed = Extract<ConfigChangeOutcome, { ok: true }>;
type Refused = Extract<ConfigChangeOutcome, { ok: false }>;

const request = (
  scope: ConfigScope,
  patch: ConfigPatch,
  over: Partial<ConfigChangeRequest> = {},
): ConfigChangeRequest => ({
  scope,
  patch,
  actor: 'admin',
  reason: 'test',
  source: 'api',
  time: T0,
  ...over,
});

async function changed(
  store: ConfigStore,
  scope: ConfigScope,
  patch: ConfigPatch,
  over: Partial<ConfigChangeRequest> = {},
): Promise<Changed> {
  const outcome = await store.changeConfig(request(scope, patch, over));
  expect(outcome).toMatchObject({ ok: true });
  return outcome as Changed;
}

async function refused(
  store: ConfigStore,
  scope: ConfigScope,
  patch: ConfigPatch,
  over: Partial<ConfigChangeRequest> = {},
): Promise<Refused> {
  const outcome = await store.changeConfig(request(scope, patch, over));
  expect(outcome).toMatchObject({ ok: false });
  return outcome as Refused;
}

async function configAudit(storage: OpenedConfigStore['storage']) {
  return (await storage.listAudit({ limit: 100 })).filter((a) => a.action.startsWith('config.'));
}

/** An accepted upload with these device timestamps (the upload's, then each packet's). */
function tracedUpload(
  deviceId: string,
  nonce: number,
  receivedAt: number,
  deviceTimestamp: number | null,
  packetTimestamps: (number | null)[],
): UploadCommit {
  const base = uploadCommit(deviceId, nonce, receivedAt);
  const [packet] = base.packets;
  return {
    ...base,
    deviceTimestamp,
    packets: packetTimestamps.map((ts, index) => ({
      ...packet,
      index,
      deviceTimestamp: ts,
      dedupeKey: `${deviceId}-${nonce}-${index}`,
      block: packet.block && { ...packet.block, time: receivedAt - 10_000 + index * 2000 },
    })),
  };
}

export function configStoreContract(name: string, open: () => Promise<OpenedConfigStore>): void {
  const withStore = (fn: (s: OpenedConfigStore) => Promise<void>) => async () => {
    const s = await open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };

  describe(`ConfigStore contract: ${name}`, () => {
    it(
      'starts with nothing configured, delivered, reported or uploaded',
      withStore(async ({ store }) => {
        const empty = { values: {}, versions: {}, version: 0, updatedAt: null };
        expect(await store.loadScope(null)).toEqual(empty);
        expect(await store.loadScope('d1')).toEqual(empty);
        expect(await store.listVersions(null, 10)).toEqual([]);
        expect(await store.listVersions('d1', 10)).toEqual([]);
        expect((await store.loadDeliveries('d1')).size).toBe(0);
        expect((await store.loadReports('d1')).size).toBe(0);
        expect(await store.recentUploads('d1', 12)).toEqual([]);
      }),
    );

    it(
      'stores fleet changes as numbered versions, each key remembering the version that set it',
      withStore(async ({ store, storage }) => {
        const first = await changed(
          store,
          null,
          { sampling_interval: 5, upload_interval: 60, registers: ['Vac1', 'Pac'] },
          { actor: 'alice', reason: 'slower', time: T0 + 1 },
        );
        expect(first.version).toEqual(expect.any(Number));
        expect(first.values).toEqual({
          sampling_interval: 5,
          upload_interval: 60,
          registers: ['Vac1', 'Pac'],
        });
        const v1 = first.version as number;

        const second = await changed(
          store,
          null,
          { upload_interval: 30, power_management: true },
          { actor: 'bob', reason: null, source: 'mqtt', time: T0 + 2 },
        );
        const v2 = second.version as number;
        expect(v2).toBeGreaterThan(v1);
        expect(second.values).toEqual({
          sampling_interval: 5,
          upload_interval: 30,
          registers: ['Vac1', 'Pac'],
          power_management: true,
        });

        expect(await store.loadScope(null)).toEqual({
          values: second.values,
          versions: { sampling_interval: v1, registers: v1, upload_interval: v2, power_management: v2 },
          version: v2,
          updatedAt: T0 + 2,
        });
        expect(await store.listVersions(null, 10)).toEqual([
          {
            version: v2,
            scope: null,
            changes: { upload_interval: 30, power_management: true },
            result: second.values,
            actor: 'bob',
            reason: null,
            source: 'mqtt',
            time: T0 + 2,
          },
          {
            version: v1,
            scope: null,
            changes: { sampling_interval: 5, upload_interval: 60, registers: ['Vac1', 'Pac'] },
            result: first.values,
            actor: 'alice',
            reason: 'slower',
            source: 'api',
            time: T0 + 1,
          },
        ]);
        expect((await store.listVersions(null, 1)).map((v) => v.version)).toEqual([v2]);

        // Each version is audited, with what it changed.
        const audit = await configAudit(storage);
        expect(audit.map((a) => a.action)).toEqual(['config.changed', 'config.changed']);
        expect(audit[0]).toMatchObject({
          time: T0 + 2,
          actor: 'bob',
          deviceId: null,
          reason: null,
          detail: {
            version: v2,
            scope: 'fleet',
            changes: { upload_interval: 30, power_management: true },
            source: 'mqtt',
          },
        });
        expect(audit[1]).toMatchObject({ actor: 'alice', reason: 'slower', detail: { version: v1 } });
      }),
    );

    it(
      'makes no version for a patch that changes nothing, and records only the keys that changed',
      withStore(async ({ store, storage }) => {
        const first = await changed(store, null, { upload_interval: 20, registers: ['Vac1', 'Pac'] });
        const same = await changed(
          store,
          null,
          { upload_interval: 20, registers: ['Vac1', 'Pac'], config_poll_interval: null },
          { time: T0 + 5 },
        );
        expect(same).toEqual({ ok: true, version: null, values: first.values });
        expect(await store.loadScope(null)).toMatchObject({ version: first.version, updatedAt: T0 });
        expect(await store.listVersions(null, 10)).toHaveLength(1);

        // Only the key whose value differs is part of the new version.
        const next = await changed(store, null, { upload_interval: 20, registers: ['Pac', 'Vac1'] });
        const [latest] = await store.listVersions(null, 10);
        expect(latest).toMatchObject({
          version: next.version,
          changes: { registers: ['Pac', 'Vac1'] },
          result: { upload_interval: 20, registers: ['Pac', 'Vac1'] },
        });
        expect((await store.loadScope(null)).versions).toEqual({
          upload_interval: first.version,
          registers: next.version,
        });
        expect(await configAudit(storage)).toHaveLength(2);
      }),
    );

    it(
      'keeps device overrides in their own scope; a device history holds its versions and the fleet ones',
      withStore(async ({ store }) => {
        const fleet = await changed(store, null, { sampling_interval: 4, upload_interval: 30 });
        const own = await changed(store, 'd1', { upload_interval: 60 }, { time: T0 + 10 });
        expect(own.values).toEqual({ upload_interval: 60 });
        const fleet2 = await changed(store, null, { config_poll_interval: 120 }, { time: T0 + 20 });
        const other = await changed(store, 'd2', { power_management: false }, { time: T0 + 30 });
        const [v1, v2, v3, v4] = [fleet, own, fleet2, other].map((o) => o.version as number);
        // One numbering across scopes, increasing with each change.
        expect(v1 < v2 && v2 < v3 && v3 < v4).toBe(true);

        expect(await store.loadScope('d1')).toEqual({
          values: { upload_interval: 60 },
          versions: { upload_interval: v2 },
          version: v2,
          updatedAt: T0 + 10,
        });
        expect(await store.loadScope(null)).toMatchObject({
          values: { sampling_interval: 4, upload_interval: 30, config_poll_interval: 120 },
          version: v3,
        });
        expect(await store.loadScope('d2')).toMatchObject({
          values: { power_management: false },
          version: v4,
        });

        const history = await store.listVersions('d1', 10);
        expect(history.map((v) => [v.version, v.scope])).toEqual([
          [v3, null],
          [v2, 'd1'],
          [v1, null],
        ]);
        expect(history[1]).toMatchObject({
          changes: { upload_interval: 60 },
          result: { upload_interval: 60 },
        });
        expect((await store.listVersions('d1', 2)).map((v) => v.version)).toEqual([v3, v2]);
        expect((await store.listVersions(null, 10)).map((v) => v.version)).toEqual([v3, v1]);
        expect((await store.listVersions('never-configured', 10)).map((v) => v.version)).toEqual([v3, v1]);
      }),
    );

    it(
      'refuses a device patch that is unsafe on top of the fleet, naming the field, and stores nothing',
      withStore(async ({ store, storage }) => {
        const fleet = await changed(store, null, { sampling_interval: 4 });
        // 4 s sampling: a packet every 20 s, at most 60 s of upload interval.
        const tooLong = await refused(store, 'd1', { config_poll_interval: 30, upload_interval: 61 });
        expect(Object.keys(tooLong.fields)).toEqual(['upload_interval']);
        expect(tooLong.fields.upload_interval).toMatch(/upload_interval 61 s with sampling_interval 4 s/);
        expect(tooLong.devices).toEqual({});

        await changed(store, 'd1', { upload_interval: 60 });
        // The device changes its sampling: the blame falls on the key it changed.
        const tooFast = await refused(store, 'd1', { sampling_interval: 3 });
        expect(Object.keys(tooFast.fields)).toEqual(['sampling_interval']);

        // Nothing of a refused patch is kept, not even its valid keys.
        const d1 = await store.loadScope('d1');
        expect(d1.values).toEqual({ upload_interval: 60 });
        expect((await store.listVersions('d1', 10)).map((v) => v.scope)).toEqual(['d1', null]);
        expect(await store.loadScope(null)).toMatchObject({
          values: { sampling_interval: 4 },
          version: fleet.version,
        });
        expect(await configAudit(storage)).toHaveLength(2);
      }),
    );

    it(
      'refuses a fleet change that would make a device with overrides unsafe, naming the device',
      withStore(async ({ store, storage }) => {
        await changed(store, null, { sampling_interval: 4, upload_interval: 30 });
        await changed(store, 'a', { upload_interval: 60 });
        await changed(store, 'b', { sampling_interval: 10 });
        const before = await store.loadScope(null);

        // Fine for the fleet (30 s ≤ 3 × 5 × 2 s), not for device a (60 s).
        const out = await refused(store, null, { sampling_interval: 2 });
        expect(Object.keys(out.devices)).toEqual(['a']);
        expect(Object.keys(out.devices.a)).toEqual(['sampling_interval']);
        expect(Object.keys(out.fields)).toEqual(['sampling_interval']);
        expect(out.fields.sampling_interval).toMatch(/1 device\(s\) .*: a \(details\.devices\)/);

        // Unsafe for the fleet itself: its own error, and the devices it breaks too.
        const both = await refused(store, null, { sampling_interval: 1 });
        expect(both.fields.sampling_interval).toMatch(/upload_interval 30 s with sampling_interval 1 s/);
        expect(Object.keys(both.devices)).toEqual(['a']);

        expect(await store.loadScope(null)).toEqual(before);
        expect(await store.listVersions(null, 10)).toHaveLength(1);
        expect(await configAudit(storage)).toHaveLength(3);

        // Once device a no longer needs the long interval, the same change is accepted.
        await changed(store, 'a', { upload_interval: null });
        expect((await changed(store, null, { sampling_interval: 2 })).values).toEqual({
          sampling_interval: 2,
          upload_interval: 30,
        });
      }),
    );

    it(
      'removes a key from a scope, so the device inherits it again, unless what it inherits is unsafe',
      withStore(async ({ store }) => {
        await changed(store, null, { upload_interval: 30 });
        const set = await changed(store, 'd1', {
          sampling_interval: 1,
          upload_interval: 15,
          config_poll_interval: 30,
        });

        // The fleet's 30 s with the device's own 1 s sampling would overflow the upload buffer.
        const unsafe = await refused(store, 'd1', { upload_interval: null });
        expect(Object.keys(unsafe.fields)).toEqual(['upload_interval']);
        expect((await store.loadScope('d1')).values).toMatchObject({ upload_interval: 15 });

        const removed = await changed(store, 'd1', { upload_interval: null, sampling_interval: null });
        expect(removed.values).toEqual({ config_poll_interval: 30 });
        expect(await store.loadScope('d1')).toEqual({
          values: { config_poll_interval: 30 },
          versions: { config_poll_interval: set.version },
          version: removed.version,
          updatedAt: T0,
        });
        const [latest] = await store.listVersions('d1', 1);
        expect(latest).toMatchObject({
          version: removed.version,
          scope: 'd1',
          changes: { upload_interval: null, sampling_interval: null },
          result: { config_poll_interval: 30 },
        });

        // Removing a key the scope does not hold changes nothing.
        expect((await changed(store, 'd1', { upload_interval: null })).version).toBeNull();

        // The last key gone: no values, but the scope keeps its latest version.
        const last = await changed(store, 'd1', { config_poll_interval: null });
        expect(await store.loadScope('d1')).toEqual({
          values: {},
          versions: {},
          version: last.version,
          updatedAt: T0,
        });
      }),
    );

    it(
      'stores a withdrawal as a version of its own source, audited as a withdrawal',
      withStore(async ({ store, storage }) => {
        await changed(store, 'd1', { upload_interval: 10 }, { time: T0 + 1 });
        const back = await changed(
          store,
          'd1',
          { upload_interval: 15 },
          { actor: 'carol', reason: 'not applied', source: 'withdraw', time: T0 + 2 },
        );
        const [latest] = await store.listVersions('d1', 10);
        expect(latest).toEqual({
          version: back.version,
          scope: 'd1',
          changes: { upload_interval: 15 },
          result: { upload_interval: 15 },
          actor: 'carol',
          reason: 'not applied',
          source: 'withdraw',
          time: T0 + 2,
        });
        const audit = await configAudit(storage);
        expect(audit.map((a) => a.action)).toEqual(['config.withdrawn', 'config.changed']);
        expect(audit[0]).toMatchObject({
          time: T0 + 2,
          actor: 'carol',
          deviceId: 'd1',
          reason: 'not applied',
          detail: {
            version: back.version,
            scope: 'device',
            changes: { upload_interval: 15 },
            source: 'withdraw',
          },
        });
      }),
    );

    it(
      'never lets two concurrent changes together make a configuration neither alone could',
      withStore(async ({ store }) => {
        await changed(store, null, { sampling_interval: 4, upload_interval: 30 });
        const winners = { device: 0, fleet: 0 };
        for (let i = 0; i < 10; i++) {
          const device = `d${i}`;
          // Alone, each is fine; together, the device would run 60 s uploads with 2 s sampling.
          const [own, fleet] = await Promise.all([
            store.changeConfig(request(device, { upload_interval: 60 })),
            store.changeConfig(request(null, { sampling_interval: 2 })),
          ]);
          expect([own.ok, fleet.ok].filter(Boolean)).toHaveLength(1);
          const stored = mergeConfig(
            (await store.loadScope(null)).values,
            (await store.loadScope(device)).values,
          );
          expect(checkConfig(stored)).toEqual({});
          // Back to the starting point for the next round.
          if (own.ok) {
            winners.device++;
            await changed(store, device, { upload_interval: null });
          } else {
            winners.fleet++;
            await changed(store, null, { sampling_interval: 4 });
          }
        }
        expect(winners.device + winners.fleet).toBe(10);
        // Every accepted change got a version of its own.
        const versions = [
          ...(await store.listVersions(null, 100)),
          ...(
            await Promise.all(Array.from({ length: 10 }, (_, i) => store.listVersions(`d${i}`, 100)))
          ).flat(),
        ].map((v) => v.version);
        expect(new Set(versions).size).toBe(1 + 2 * 10);
      }),
    );

    it(
      'records what each answer carried: a value offered again keeps its first delivery time',
      withStore(async ({ store }) => {
        await store.recordDeliveries(
          'd1',
          [
            { key: 'upload_interval', value: 20, version: 3 },
            { key: 'registers', value: ['Vac1', 'Pac'], version: 3 },
            { key: 'power_management', value: false, version: 2 },
          ],
          T0,
        );
        expect(Object.fromEntries(await store.loadDeliveries('d1'))).toEqual({
          upload_interval: { value: 20, version: 3, firstAt: T0, lastAt: T0, offers: 1 },
          registers: { value: ['Vac1', 'Pac'], version: 3, firstAt: T0, lastAt: T0, offers: 1 },
          power_management: { value: false, version: 2, firstAt: T0, lastAt: T0, offers: 1 },
        });

        // The same value again (set anew by a later version): still the first delivery.
        await store.recordDeliveries('d1', [{ key: 'upload_interval', value: 20, version: 4 }], T0 + 1000);
        await store.recordDeliveries('d1', [{ key: 'upload_interval', value: 20, version: 4 }], T0 + 2000);
        // A new value restarts the clock.
        await store.recordDeliveries('d1', [{ key: 'registers', value: ['Pac'], version: 5 }], T0 + 3000);
        await store.recordDeliveries('d1', [], T0 + 4000);
        expect(Object.fromEntries(await store.loadDeliveries('d1'))).toEqual({
          upload_interval: { value: 20, version: 4, firstAt: T0, lastAt: T0 + 2000, offers: 3 },
          registers: { value: ['Pac'], version: 5, firstAt: T0 + 3000, lastAt: T0 + 3000, offers: 1 },
          power_management: { value: false, version: 2, firstAt: T0, lastAt: T0, offers: 1 },
        });
        expect((await store.loadDeliveries('d2')).size).toBe(0);
      }),
    );

    it(
      'keeps the latest 1.3 report of each key, replacing only the keys reported',
      withStore(async ({ store }) => {
        await store.recordReports(
          'd13',
          [
            { key: 'upload_interval', value: 20, outcome: 'running', basis: 'reported at boot' },
            { key: 'registers', value: ['Vac1', 'Pac'], outcome: 'running', basis: 'reported at boot' },
            { key: 'power_management', value: true, outcome: 'running', basis: 'reported at boot' },
          ],
          T0,
        );
        await store.recordReports(
          'd13',
          [
            { key: 'upload_interval', value: 30, outcome: 'failed', basis: 'acknowledged' },
            { key: 'power_management', value: false, outcome: 'running', basis: 'acknowledged' },
          ],
          T0 + 5000,
        );
        await store.recordReports('d13', [], T0 + 6000);
        expect(Object.fromEntries(await store.loadReports('d13'))).toEqual({
          upload_interval: { value: 30, outcome: 'failed', basis: 'acknowledged', at: T0 + 5000 },
          registers: { value: ['Vac1', 'Pac'], outcome: 'running', basis: 'reported at boot', at: T0 },
          power_management: { value: false, outcome: 'running', basis: 'acknowledged', at: T0 + 5000 },
        });
        expect((await store.loadReports('other')).size).toBe(0);
        // Reports are not deliveries.
        expect((await store.loadDeliveries('d13')).size).toBe(0);
      }),
    );

    it(
      "traces a device's latest accepted uploads, oldest first, with each packet's device time",
      withStore(async ({ store, storage }) => {
        const commit = async (u: UploadCommit) => expect((await storage.commitUpload(u)).ok).toBe(true);
        await commit(tracedUpload('dev', 10001, T0, 30_000, [20_000, 30_000]));
        await commit(tracedUpload('other', 10001, T0 + 500, 1, [1]));
        await commit(tracedUpload('dev', 10002, T0 + 15_000, 45_000, [35_000, 40_000, 45_000]));
        await commit(tracedUpload('dev', 10003, T0 + 30_000, null, [null]));
        // Refused (replayed nonce): not an accepted upload.
        expect((await storage.commitUpload(tracedUpload('dev', 10003, T0 + 31_000, 1, [1]))).ok).toBe(false);
        // A re-sent packet (stored once) and a quarantined one still show when the device made them.
        const resent = tracedUpload('dev', 10004, T0 + 45_000, 60_000, [50_000, 55_000, 60_000]);
        const [, again, bad] = resent.packets;
        const mixed: UploadCommit = {
          ...resent,
          packets: [
            resent.packets[0],
            { ...again, dedupeKey: 'dev-10002-2' },
            { ...bad, status: 'quarantined', reason: 'crc', block: null },
          ],
        };
        expect(await storage.commitUpload(mixed)).toMatchObject({ ok: true, duplicatePackets: [1] });

        expect(await store.recentUploads('dev', 12)).toEqual([
          { receivedAt: T0, deviceTimestamp: 30_000, packetTimestamps: [20_000, 30_000] },
          { receivedAt: T0 + 15_000, deviceTimestamp: 45_000, packetTimestamps: [35_000, 40_000, 45_000] },
          { receivedAt: T0 + 30_000, deviceTimestamp: null, packetTimestamps: [null] },
          { receivedAt: T0 + 45_000, deviceTimestamp: 60_000, packetTimestamps: [50_000, 55_000, 60_000] },
        ]);
        expect((await store.recentUploads('dev', 2)).map((u) => u.receivedAt)).toEqual([
          T0 + 30_000,
          T0 + 45_000,
        ]);
        expect(await store.recentUploads('other', 12)).toEqual([
          { receivedAt: T0 + 500, deviceTimestamp: 1, packetTimestamps: [1] },
        ]);
      }),
    );
  });
}
