/**
 * The behaviour every Storage adapter must have. Each adapter's test file calls
 * `storageContract` with a factory for a fresh, empty store.
 */

import { describe, expect, it } from 'vitest';
import type { DeviceKey, DevicePolicy } from '../../src/model/device.js';
import { armedAt } from '../../src/model/replay-window.js';
import { committedBlocks } from '../../src/mqtt/recent-uploads.js';
import { eventJson } from '../../src/observability/event-json.js';
import type { PacketRecord, SecurityEvent, Storage, UploadCommit } from '../../src/ports/storage.js';
import type { Quality } from '../../src/protocol/codecs/types.js';
import { eventually } from '../helpers/eventually.js';

const POLICY: DevicePolicy = { allowUnsecured: false, requireEncryption: false, replay: { kind: 'strict' } };
const audit = (action: string, deviceId: string) => ({
  time: 1,
  actor: 'test',
  action,
  deviceId,
  reason: null,
});

function packet(index: number, key: string, base = 2400): PacketRecord {
  const values: (number | null)[] = [];
  const quality: Quality[] = [];
  for (let s = 0; s < 5; s++) {
    values.push(base + s, 170, 70, 4200, 65, s === 4 ? null : 550);
    quality.push('exact', 'exact', 'ambiguous', 'exact', 'exact', s === 4 ? 'missing' : 'approximate');
  }
  return {
    index,
    deviceTimestamp: 1000 + index,
    bytes: 'AAAA',
    dedupeKey: key,
    method: 'dictionary',
    label: 'BATCH_DICTIONARY',
    status: 'decoded',
    reason: null,
    notes: [],
    block: {
      time: 1_000_000 + index * 10_000,
      step: 2000,
      samples: 5,
      layout: [0, 1, 5, 9, 6, 7],
      values,
      quality,
    },
  };
}

function upload(
  deviceId: string,
  nonce: number | null,
  packets: PacketRecord[] = [packet(0, `${deviceId}-${nonce}`)],
): UploadCommit {
  return {
    deviceId,
    registerWith: POLICY,
    nonce,
    counterResetThreshold: 1000,
    initialHigh: 10000,
    keyKid: null,
    protocol: nonce === null ? 'unsecured' : 'v1',
    generation: 'e84f720',
    encrypted: false,
    receivedAt: 2_000_000,
    source: '127.0.0.1',
    requestId: 'r',
    deviceTimestamp: 5000,
    packets,
  };
}

const key = (kid: string, createdAt: number): DeviceKey => ({
  kid,
  kind: 'v1',
  hmacKey: '00'.repeat(32),
  aesKey: null,
  iv: null,
  status: 'active',
  createdAt,
  lastUsedAt: null,
  retiredAt: null,
});

export function storageContract(name: string, create: () => Promise<Storage>): void {
  describe(`Storage contract: ${name}`, () => {
    it('registers a device on its first upload and advances its replay state', async () => {
      const s = await create();
      const first = await s.commitUpload(upload('d1', 10001));
      expect(first).toMatchObject({
        ok: true,
        registered: true,
        gap: 0,
        readingsStored: 30,
        samplesStored: 5,
      });
      expect(await s.commitUpload(upload('d1', 10001))).toMatchObject({
        ok: false,
        code: 'replayed_nonce',
        reason: 'duplicate',
      });
      expect(await s.commitUpload(upload('d1', 10005))).toMatchObject({
        ok: true,
        gap: 3,
        registered: false,
      });
      const d = await s.getDevice('d1');
      expect(d?.replay.high).toBe(10005);
      expect(d?.counters).toMatchObject({ uploads: 2, readings: 60, nonceGaps: 3 });
      expect(d?.autoRegistered).toBe(true);
      await s.close();
    });

    it('advances the same nonce sequence for requests that are not uploads', async () => {
      const s = await create();
      expect(await s.acceptNonce('nobody', 1, 1000)).toMatchObject({ ok: false, reason: 'unknown_device' });
      await s.commitUpload(upload('req', 10001));
      expect(await s.acceptNonce('req', 10002, 1000)).toEqual({ ok: true, gap: 0 });
      expect(await s.acceptNonce('req', 10002, 1000)).toMatchObject({ ok: false, reason: 'duplicate' });
      expect(await s.commitUpload(upload('req', 10002))).toMatchObject({ ok: false, reason: 'duplicate' });
      expect(await s.commitUpload(upload('req', 10003))).toMatchObject({ ok: true });
      await s.close();
    });

    it('accepts exactly one of many concurrent commits of the same nonce', async () => {
      const s = await create();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => s.commitUpload(upload('race', 10001, [packet(0, `race-${i}`)]))),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      await s.close();
    });

    it('stores a re-sent packet once', async () => {
      const s = await create();
      await s.commitUpload(upload('dup', 10001, [packet(0, 'same')]));
      const again = await s.commitUpload(upload('dup', 10002, [packet(0, 'same'), packet(1, 'new')]));
      expect(again).toMatchObject({ ok: true, duplicatePackets: [0], readingsStored: 30 });
      const page = await s.queryReadings('dup', { limit: 1000 });
      expect(page.readings).toHaveLength(60);
      await s.close();
    });

    it('pages readings with a cursor, filters by register and time, keeps quality', async () => {
      const s = await create();
      await s.commitUpload(upload('pg', 10001, [packet(0, 'p0'), packet(1, 'p1')]));
      const all: unknown[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = await s.queryReadings('pg', { limit: 7, ...(cursor ? { cursor } : {}) });
        all.push(...page.readings);
        if (!page.next) break;
        cursor = page.next;
      }
      expect(all).toHaveLength(60);
      const vac = await s.queryReadings('pg', { limit: 100, registers: [0] });
      expect(vac.readings.map((r) => r.raw)).toEqual([
        2400, 2401, 2402, 2403, 2404, 2400, 2401, 2402, 2403, 2404,
      ]);
      const temp = await s.queryReadings('pg', {
        limit: 100,
        registers: [7],
        from: 1_000_000,
        to: 1_006_000,
      });
      expect(temp.readings.map((r) => r.quality)).toEqual([
        'approximate',
        'approximate',
        'approximate',
        'approximate',
      ]);
      const latest = await s.latestReadings('pg');
      expect(latest.find((r) => r.register === 7)).toMatchObject({ raw: 550, quality: 'approximate' });
      await s.close();
    });

    it('keeps uploads with their packets, quarantined ones included', async () => {
      const s = await create();
      const bad: PacketRecord = {
        ...packet(1, 'q'),
        status: 'quarantined',
        reason: 'unknown_marker: 0x42',
        method: null,
        block: null,
      };
      const r = await s.commitUpload(upload('up', 10001, [packet(0, 'ok'), bad]));
      if (!r.ok) throw new Error('commit failed');
      const u = await s.getUpload(r.uploadId);
      expect(u?.packets.map((p) => p.status)).toEqual(['decoded', 'quarantined']);
      expect(u?.packets[1]).toMatchObject({ reason: 'unknown_marker: 0x42', bytes: 'AAAA' });
      expect(await s.getUpload('999999')).toBeUndefined();
      await s.close();
    });

    it("lists a device's uploads newest first, paging with before", async () => {
      const s = await create();
      const ids: string[] = [];
      for (let n = 1; n <= 3; n++) {
        const r = await s.commitUpload(upload('lu', 10000 + n, [packet(0, `lu-${n}`)]));
        if (!r.ok) throw new Error('commit failed');
        ids.push(r.uploadId);
      }
      await s.commitUpload(upload('other', 10001, [packet(0, 'other-1')]));
      const all = await s.listUploads('lu', { limit: 10 });
      expect(all.map((u) => u.id)).toEqual([...ids].reverse());
      expect(all[0].packets).toHaveLength(1);
      const page = await s.listUploads('lu', { limit: 1, before: ids[2] });
      expect(page.map((u) => u.id)).toEqual([ids[1]]);
      expect(await s.listUploads('nobody', { limit: 10 })).toEqual([]);
      await s.close();
    });

    it("counts the fleet by the age of each device's last upload in one read", async () => {
      const s = await create();
      expect(await s.deviceActivity([0])).toEqual({ total: 0, never: 0, since: [0] });
      await s.createDevice(
        { id: 'quiet', status: 'active', policy: POLICY, keys: [], replay: armedAt(10000), createdAt: 1 },
        audit('device.added', 'quiet'),
      );
      for (const [id, at] of [
        ['a', 1_000_000],
        ['b', 2_000_000],
        ['c', 3_000_000],
      ] as const) {
        expect((await s.commitUpload({ ...upload(id, 10001), receivedAt: at })).ok).toBe(true);
      }
      expect(await s.deviceActivity([3_000_000, 1_500_000, 0])).toEqual({
        total: 4,
        never: 1,
        since: [1, 2, 3],
      });
      expect(await s.deviceActivity([])).toEqual({ total: 4, never: 1, since: [] });
    });

    it('manages devices, keys and replay resets with an audit trail', async () => {
      const s = await create();
      await s.createDevice(
        {
          id: 'm',
          status: 'active',
          policy: POLICY,
          keys: [key('k1', 1)],
          replay: armedAt(10000),
          createdAt: 1,
        },
        audit('device.added', 'm'),
      );
      await s.addDeviceKey('m', key('k2', 2), audit('key.added', 'm'));
      const used = await s.commitUpload({ ...upload('m', 10001), keyKid: 'k2' });
      expect(used).toMatchObject({ ok: true, retiredKeys: ['k1'] });
      const d = await s.getDevice('m');
      expect(d?.keys.map((k) => [k.kid, k.status])).toEqual([
        ['k1', 'retired'],
        ['k2', 'active'],
      ]);
      await s.setDeviceStatus('m', 'disabled', audit('device.disabled', 'm'));
      expect(await s.commitUpload({ ...upload('m', 10002), keyKid: 'k2' })).toEqual({
        ok: false,
        code: 'policy',
        reason: 'device_disabled',
      });
      await s.setDeviceStatus('m', 'active', audit('device.enabled', 'm'));
      await s.resetReplay('m', armedAt(null), audit('replay.reset', 'm'));
      expect(await s.commitUpload(upload('m', 5))).toEqual({
        ok: false,
        code: 'policy',
        reason: 'fleet_key_not_allowed',
      });
      expect(await s.commitUpload({ ...upload('m', 5), keyKid: 'k2' })).toMatchObject({ ok: true });
      const log = await s.listAudit({ deviceId: 'm', limit: 10 });
      expect(log.map((e) => e.action)).toContain('replay.reset');
      expect(log.map((e) => e.action)).toContain('key.retired');
      await s.close();
    });

    it('applies the device policy inside the commit', async () => {
      const s = await create();
      expect(await s.commitUpload(upload('bare', null))).toEqual({
        ok: false,
        code: 'policy',
        reason: 'unsecured_not_allowed',
      });
      expect(await s.getDevice('bare')).toBeUndefined();
      const open = { ...POLICY, allowUnsecured: true };
      expect(await s.commitUpload({ ...upload('bare', null), registerWith: open })).toMatchObject({
        ok: true,
        registered: true,
      });
      await s.commitUpload(upload('enc', 10001));
      await s.setDevicePolicy('enc', { ...POLICY, requireEncryption: true }, audit('device.policy', 'enc'));
      expect(await s.commitUpload(upload('enc', 10002))).toEqual({
        ok: false,
        code: 'policy',
        reason: 'encryption_required',
      });
      expect(await s.commitUpload({ ...upload('enc', 10002), encrypted: true })).toMatchObject({ ok: true });
      await s.close();
    });

    it('keeps an outbox of what must be published, in order, until marked published', async () => {
      const s = await create();
      const r1 = await s.commitUpload(upload('ob', 10001, [packet(0, 'ob0'), packet(1, 'ob1')]));
      const r2 = await s.commitUpload(upload('ob', 10002, [packet(0, 'ob2')]));
      s.recordSecurityEvent({
        time: 2_000_005,
        deviceId: 'ob',
        code: 'nonce_gap',
        reason: 'x',
        source: null,
        nonce: 3,
        requestId: null,
      });
      if (!r1.ok || !r2.ok) throw new Error('commit failed');
      // The event is written behind the call (fire and forget): wait until it is there.
      const pending = await eventually(async () => {
        const all = await s.pendingOutbox(10);
        expect(all).toHaveLength(4);
        return all;
      });
      expect(pending.map((p) => [p.kind, p.refId ?? ''])).toEqual([
        ['device', 'ob'],
        ['upload', r1.uploadId],
        ['upload', r2.uploadId],
        ['event', expect.any(String)],
      ]);
      expect(JSON.parse(pending[3].payload ?? '{}')).toMatchObject({ code: 'nonce_gap', device_id: 'ob' });
      expect(await s.outboxStats()).toMatchObject({ depth: 4, oldestCreatedAt: 2_000_000 });
      const blocks = await s.uploadBlocks(r1.uploadId);
      expect(blocks?.packets.map((p) => p.index)).toEqual([0, 1]);
      expect(blocks?.packets[0].block.values.slice(0, 6)).toEqual([2400, 170, 70, 4200, 65, 550]);
      expect(blocks?.packets[0].block.quality.slice(0, 3)).toEqual(['exact', 'exact', 'ambiguous']);
      await s.markPublished([pending[0].id, pending[1].id]);
      expect((await s.pendingOutbox(10)).map((p) => p.kind)).toEqual(['upload', 'event']);
      expect((await s.pendingOutbox(10, pending[2].id)).map((p) => p.kind)).toEqual(['event']);
      await s.close();
    });

    it('reads back exactly the blocks the MQTT relay takes from the commit itself', async () => {
      const s = await create();
      await s.commitUpload(upload('rb', 10001, [packet(0, 'rb-seen')]));
      const quarantined: PacketRecord = {
        ...packet(2, 'rb-q'),
        status: 'quarantined',
        method: null,
        block: null,
      };
      const u = upload('rb', 10002, [packet(0, 'rb-seen'), packet(1, 'rb-new', 2500), quarantined]);
      const r = await s.commitUpload(u);
      if (!r.ok) throw new Error('commit failed');
      const fromCommit = committedBlocks({
        deviceId: u.deviceId,
        uploadId: r.uploadId,
        nonce: u.nonce,
        receivedAt: u.receivedAt,
        deviceTimestamp: u.deviceTimestamp,
        registered: r.registered,
        protocol: u.protocol,
        generation: u.generation,
        nonceGap: r.gap,
        packets: u.packets,
        duplicatePackets: r.duplicatePackets,
      });
      expect(fromCommit.packets.map((p) => p.index)).toEqual([1]);
      expect(await s.uploadBlocks(r.uploadId)).toEqual(fromCommit);
      await s.close();
    });

    it('records security events and reject counters', async () => {
      const s = await create();
      await s.commitUpload(upload('ev', 10001));
      s.recordSecurityEvent({
        time: 5,
        deviceId: 'ev',
        code: 'replayed_nonce',
        reason: 'duplicate',
        source: 'x',
        nonce: 1,
        requestId: 'r',
      });
      s.countReject('ev', 'replayed_nonce');
      s.countReject('ev', 'replayed_nonce');
      await eventually(async () => {
        const events = await s.listSecurityEvents({ deviceId: 'ev', limit: 10 });
        expect(events[0]).toMatchObject({ code: 'replayed_nonce', nonce: 1 });
        expect((await s.getDevice('ev'))?.counters.rejects).toEqual({ replayed_nonce: 2 });
      });
      await s.close();
    });

    it('counts unsigned control requests per device and generation, and records where it last uploaded', async () => {
      const s = await create();
      const open = { ...POLICY, allowUnsecured: true };
      await s.commitUpload({
        ...upload('ctl', 10001),
        registerWith: open,
        source: '10.1.2.3',
        generation: '1.3',
      });
      s.countControl('ctl', '1.3');
      s.countControl('ctl', '1.3');
      s.countControl('ctl', 'e84f720');
      const d = await eventually(async () => {
        const got = await s.getDevice('ctl');
        expect(got?.counters.unsecuredControl).toEqual({ '1.3': 2, e84f720: 1 });
        return got;
      });
      expect(d?.generation).toBe('1.3');
      expect(d?.lastAuthSource).toBe('10.1.2.3');
      // A bare upload moves the last source, not the authenticated one.
      expect((await s.commitUpload({ ...upload('ctl', null), source: '10.9.9.9' })).ok).toBe(true);
      const after = await s.getDevice('ctl');
      expect(after?.lastSource).toBe('10.9.9.9');
      expect(after?.lastAuthSource).toBe('10.1.2.3');
      await s.close();
    });

    it('keeps device reports per device and kind, newest first, pruning the oldest', async () => {
      const s = await create();
      await s.commitUpload(upload('rep', 10001));
      const keep = { perDevice: 3, unknownDevices: 2 };
      const report = (deviceId: string, kind: 'energy' | 'fault', n: number) => ({
        deviceId,
        kind,
        receivedAt: 1000 + n,
        source: '10.0.0.7',
        verified: true,
        body: { timestamp: n, nested: { techniques: '0x0F', saved: 1.25 }, text: 'ünïcode' },
      });
      const ids: number[] = [];
      for (let n = 0; n < 5; n++) ids.push((await s.recordReport(report('rep', 'energy', n), keep)).id);
      await s.recordReport(report('rep', 'fault', 9), keep);
      expect(new Set(ids).size).toBe(5);
      const energy = await s.listReports('rep', 'energy', 10);
      expect(energy.map((r) => r.body.timestamp)).toEqual([4, 3, 2]);
      expect(energy[0]).toEqual({ ...report('rep', 'energy', 4), id: ids[4] });
      expect((await s.listReports('rep', 'energy', 2)).map((r) => r.id)).toEqual([ids[4], ids[3]]);
      expect((await s.listReports('rep', 'fault', 10)).map((r) => r.body.timestamp)).toEqual([9]);
      expect(await s.listReports('other', 'energy', 10)).toEqual([]);
      await s.close();
    });

    it('keeps registrations one per id, and those of unknown ids bounded over all of them', async () => {
      const s = await create();
      await s.commitUpload(upload('known', 10001));
      const keep = { perDevice: 1, unknownDevices: 2 };
      const reg = (deviceId: string, name: string, verified: boolean) => ({
        deviceId,
        kind: 'registration' as const,
        receivedAt: 5000,
        source: '10.0.0.8',
        verified,
        body: { device_name: name },
      });
      await s.recordReport(reg('known', 'first', true), keep);
      await s.recordReport(reg('known', 'second', true), keep);
      expect((await s.listReports('known', 'registration', 5)).map((r) => r.body.device_name)).toEqual([
        'second',
      ]);
      for (const id of ['p1', 'p2', 'p3']) await s.recordReport(reg(id, `name-${id}`, false), keep);
      await s.recordReport(reg('p3', 'again', false), keep);
      // p1 was the oldest of three unknown ids beyond the two kept; the known device is not counted.
      const pending = await s.listUnknownDeviceReports('registration', 10);
      expect(pending.map((r) => [r.deviceId, r.body.device_name, r.verified])).toEqual([
        ['p3', 'again', false],
        ['p2', 'name-p2', false],
      ]);
      expect(await s.listReports('p1', 'registration', 5)).toEqual([]);
      expect((await s.listReports('known', 'registration', 5)).length).toBe(1);
      // Once the id has a device, its registration is no longer pending (and is kept as its own).
      await s.commitUpload(upload('p2', 10001));
      expect((await s.listUnknownDeviceReports('registration', 10)).map((r) => r.deviceId)).toEqual(['p3']);
      expect((await s.listReports('p2', 'registration', 5))[0]).toMatchObject({
        deviceId: 'p2',
        verified: false,
        body: { device_name: 'name-p2' },
      });
      await s.close();
    });
    it('answers each registry change with the changed device, and an unknown id with nothing', async () => {
      const s = await create();
      const created = await s.createDevice(
        {
          id: 'rc',
          status: 'disabled',
          policy: POLICY,
          keys: [key('k1', 1)],
          replay: armedAt(500),
          createdAt: 7,
        },
        audit('device.added', 'rc'),
      );
      expect(created).toMatchObject({ id: 'rc', status: 'disabled', autoRegistered: false, createdAt: 7 });
      expect(created.replay).toEqual(armedAt(500));
      expect(created.keys.map((k) => [k.kid, k.status])).toEqual([['k1', 'active']]);
      const added = await s.addDeviceKey('rc', key('k2', 2), audit('key.added', 'rc'));
      expect(added?.keys.map((k) => k.kid)).toEqual(['k1', 'k2']);
      const retired = await s.retireDeviceKey('rc', 'k1', audit('key.retired', 'rc'));
      expect(retired?.keys[0]).toMatchObject({ kid: 'k1', status: 'retired', retiredAt: 1 });
      const open = { ...POLICY, allowUnsecuredConfig: true, requireV2: true };
      expect((await s.setDevicePolicy('rc', open, audit('device.policy', 'rc')))?.policy).toEqual({
        ...open,
        allowUnsecured: false,
      });
      expect((await s.setDeviceStatus('rc', 'active', audit('device.enabled', 'rc')))?.status).toBe('active');
      expect((await s.resetReplay('rc', armedAt(null), audit('replay.reset', 'rc')))?.replay).toEqual(
        armedAt(null),
      );
      expect((await s.getDevice('rc'))?.keys.map((k) => [k.kid, k.status])).toEqual([
        ['k1', 'retired'],
        ['k2', 'active'],
      ]);

      expect(await s.setDeviceStatus('none', 'disabled', audit('device.disabled', 'none'))).toBeUndefined();
      expect(await s.setDevicePolicy('none', POLICY, audit('device.policy', 'none'))).toBeUndefined();
      expect(await s.addDeviceKey('none', key('k1', 1), audit('key.added', 'none'))).toBeUndefined();
      expect(await s.retireDeviceKey('none', 'k1', audit('key.retired', 'none'))).toBeUndefined();
      expect(await s.resetReplay('none', armedAt(null), audit('replay.reset', 'none'))).toBeUndefined();
      expect(await s.getDevice('none')).toBeUndefined();
      expect(await s.listAudit({ deviceId: 'none', limit: 10 })).toEqual([]);
      expect((await s.listAudit({ deviceId: 'rc', limit: 10 })).map((e) => e.action)).toEqual([
        'replay.reset',
        'device.enabled',
        'device.policy',
        'key.retired',
        'key.added',
        'device.added',
      ]);
      expect((await s.listDevices()).map((d) => d.id)).toEqual(['rc']);
      await s.close();
    });

    it('publishes a stored event under its stored id, and filters and pages events', async () => {
      const s = await create();
      const event = (n: number, code: string, deviceId: string | null) => ({
        time: 1000 + n,
        deviceId,
        code,
        reason: `r${n}`,
        source: '10.0.0.9',
        nonce: n,
        requestId: `q${n}`,
        detail: { n, kid: 'k9' },
      });
      // Fire and forget: each is waited for, so ids follow the order of the calls.
      const stored = async (e: SecurityEvent) => {
        s.recordSecurityEvent(e);
        return eventually(async () => {
          const got = await s.listSecurityEvents({ limit: 10 });
          expect(got[0]?.nonce).toBe(e.nonce);
          return got;
        });
      };
      await stored(event(1, 'authentication_failed', 'evid'));
      await stored(event(2, 'replayed_nonce', 'evid'));
      const all = await stored(event(3, 'authentication_failed', null));
      expect(all.map((e) => e.nonce)).toEqual([3, 2, 1]);
      expect(all[2]).toEqual({ ...event(1, 'authentication_failed', 'evid'), id: all[2].id });
      expect(
        (await s.listSecurityEvents({ deviceId: 'evid', code: 'authentication_failed', limit: 10 })).map(
          (e) => e.nonce,
        ),
      ).toEqual([1]);
      expect((await s.listSecurityEvents({ since: 1002, limit: 10 })).map((e) => e.nonce)).toEqual([3, 2]);
      expect((await s.listSecurityEvents({ before: all[0].id, limit: 1 })).map((e) => e.nonce)).toEqual([2]);
      // Events of no device are not published.
      const records = await s.pendingOutbox(10);
      expect(records.map((r) => r.refId)).toEqual([String(all[2].id), String(all[1].id)]);
      expect(JSON.parse(records[0].payload ?? '{}')).toEqual(eventJson(all[2], all[2].id));
      await s.close();
    });
  });
}
