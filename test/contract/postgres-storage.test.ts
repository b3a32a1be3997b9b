/**
 * The Storage contract against the machine's PostgreSQL (replay state in the row, and in Redis),
 * plus what only this adapter has: migrations, outbox ownership across instances, commit-order
 * safe outbox reads, retention, and the Redis script's equivalence with the pure replay rule.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { PG_MIGRATIONS } from '../../src/adapters/postgres/schema.js';
import { RedisReplayStore } from '../../src/adapters/redis/redis-replay-store.js';
import type { ReplayMode, ReplayState } from '../../src/model/replay.js';
import { armedAt, checkReplay, UNARMED } from '../../src/model/replay-window.js';
import type { ReplayStore } from '../../src/ports/replay-store.js';
import type { UploadCommit } from '../../src/ports/storage.js';
import {
  createSchema,
  REDIS_URL,
  redisPrefix,
  servicesAvailable,
  type TestSchema,
} from '../helpers/services.js';
import { uploadCommit } from '../helpers/upload-commit.js';
import { storageContract } from './storage-contract.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

async function schema(label: string): Promise<TestSchema> {
  const s = await createSchema(label);
  cleanups.push(() => s.drop());
  return s;
}

async function redisStore(label: string): Promise<RedisReplayStore> {
  const keys = redisPrefix(label);
  cleanups.push(() => keys.cleanup());
  return RedisReplayStore.open({ url: REDIS_URL, keyPrefix: keys.prefix });
}

const upload = uploadCommit;

if (await servicesAvailable('postgres')) {
  storageContract('PostgreSQL', async () =>
    PostgresStorage.open({ url: (await schema('contract')).url, poolSize: 4 }),
  );
  storageContract('PostgreSQL without pipelining', async () =>
    PostgresStorage.open({ url: (await schema('contract_np')).url, poolSize: 4, pipeline: false }),
  );

  describe('PostgreSQL adapter', () => {
    it('records applied migrations and applies nothing twice', async () => {
      const s = await schema('migrate');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      await a.close();
      const b = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      await b.close();
      const rows = await s.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      // Versions are applied in order whatever the array's order (entries are only ever appended).
      expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
    });

    it('migrates once when several instances start together', async () => {
      const s = await schema('migrate_race');
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStorage.open({ url: s.url, poolSize: 1 })),
      );
      await Promise.all(stores.map((x) => x.close()));
      const rows = await s.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0].n).toBe(PG_MIGRATIONS.length);
    });

    it('accepts exactly one copy of a nonce committed through two instances at once', async () => {
      const s = await schema('two');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 8 });
      const b = await PostgresStorage.open({ url: s.url, poolSize: 8 });
      for (let n = 10001; n <= 10005; n++) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).commitUpload(upload('twin', n))),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      }
      expect((await a.getDevice('twin'))?.counters.uploads).toBe(5);
      await a.close();
      await b.close();
    });

    it("commits the known devices' uploads of one turn as one group, each answered after its commit", async () => {
      const s = await schema('group');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const ids = Array.from({ length: 20 }, (_, i) => `grp-${String(i).padStart(2, '0')}`);
      for (const id of ids) await a.commitUpload(upload(id, 10001));
      const before = { ...a.groups.stats };
      // Two uploads of one device in the turn: the second goes to the next group.
      const results = await Promise.all([
        ...ids.map((id) => a.commitUpload(upload(id, 10002))),
        a.commitUpload(upload(ids[0], 10003)),
      ]);
      expect(results.every((r) => r.ok)).toBe(true);
      expect(a.groups.stats.groups - before.groups).toBe(2);
      expect(a.groups.stats.uploads - before.uploads).toBe(21);
      const rows = await s.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM uploads WHERE device_id LIKE 'grp-%'",
      );
      expect(rows[0].n).toBe(41);
      expect((await a.getDevice(ids[0]))?.counters.uploads).toBe(3);
      await a.close();
    });

    it('writes a group exactly as the same uploads written one by one: packets, re-sends, quarantines, counters', async () => {
      /** A device's upload with packets of every kind: a re-send of the previous upload's packet among them. */
      const varied = (id: string, nonce: number): UploadCommit => {
        const base = upload(id, nonce, 3_000_000 + nonce);
        const decoded = base.packets[0];
        return {
          ...base,
          requestId: `req-${id}-${nonce}`,
          decoderState: `{"state":${nonce}}`,
          packets: [
            { ...decoded, index: 0, dedupeKey: `${id}-${nonce}-a` },
            // The previous upload's third packet, sent again: stored once.
            { ...decoded, index: 1, dedupeKey: `${id}-${nonce - 1}-b`, bytes: 'BBBB' },
            { ...decoded, index: 2, dedupeKey: `${id}-${nonce}-b`, bytes: 'BBBB' },
            {
              ...decoded,
              index: 3,
              dedupeKey: `${id}-${nonce}-q`,
              status: 'quarantined',
              reason: 'bad_packet',
              notes: ['x'],
              block: null,
            },
          ],
        };
      };
      const ids = Array.from({ length: 12 }, (_, i) => `diff-${String(i).padStart(2, '0')}`);
      const [grouped, single] = [await schema('group_diff_g'), await schema('group_diff_s')];
      const g = await PostgresStorage.open({ url: grouped.url, poolSize: 4 });
      const one = await PostgresStorage.open({ url: single.url, poolSize: 4, groupMax: 1 });
      const outcomes: Record<string, unknown[]> = { g: [], one: [] };
      for (const id of ids) {
        outcomes.g.push(await g.commitUpload(varied(id, 10001)));
        outcomes.one.push(await one.commitUpload(varied(id, 10001)));
      }
      for (let n = 10002; n <= 10004; n++) {
        const before = g.groups.stats.groups;
        outcomes.g.push(...(await Promise.all(ids.map((id) => g.commitUpload(varied(id, n))))));
        expect(g.groups.stats.groups - before).toBe(1);
        for (const id of ids) outcomes.one.push(await one.commitUpload(varied(id, n)));
      }
      expect(outcomes.g).toEqual(outcomes.one);
      const dump = async (s: TestSchema) => ({
        uploads: await s.query(
          'SELECT id, device_id, nonce, protocol, encrypted, key_kid, received_at, source, request_id, device_timestamp, gap FROM uploads ORDER BY id',
        ),
        packets: await s.query('SELECT * FROM packets ORDER BY upload_id, idx'),
        keys: await s.query('SELECT * FROM packet_keys ORDER BY dedupe_key'),
        blocks: await s.query(
          'SELECT device_id, time, step, samples, upload_id, packet_idx, layout, raw, quality FROM blocks ORDER BY upload_id, packet_idx',
        ),
        devices: await s.query(
          `SELECT id, first_seen, last_seen, last_nonce, last_source, replay_high, replay_seen, uploads, readings,
            quarantined_packets, duplicate_packets, nonce_gaps, decoder_state, generation, auth_source, auth_at
            FROM devices ORDER BY id`,
        ),
        outbox: await s.query('SELECT device_id, kind, ref_id, created_at FROM outbox ORDER BY id'),
      });
      expect(await dump(grouped)).toEqual(await dump(single));
      await g.close();
      await one.close();
    });

    it("writes the rest of a group alone when one upload's statement fails: no valid upload fails for another", async () => {
      const s = await schema('group_split');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const ids = ['split-a', 'split-b', 'split-c'];
      for (const id of ids) await a.commitUpload(upload(id, 10001));
      // PostgreSQL refuses a NUL character in text: that statement fails, and aborts its group.
      const bad = { ...upload('split-b', 10002), requestId: 'bad\u0000id' };
      const results = await Promise.allSettled([
        a.commitUpload(upload('split-a', 10002)),
        a.commitUpload(bad),
        a.commitUpload(upload('split-c', 10002)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(a.groups.stats.splits).toBe(1);
      const rows = await s.query<{ device_id: string }>(
        'SELECT device_id FROM uploads WHERE nonce = 10002 ORDER BY device_id',
      );
      expect(rows.map((r) => r.device_id)).toEqual(['split-a', 'split-c']);
      // The failed upload consumed nothing: its nonce is still good.
      expect(await a.commitUpload(upload('split-b', 10002))).toMatchObject({ ok: true });
      await a.close();
    });

    it('two instances committing overlapping groups for the same devices: no deadlock, every nonce accepted exactly once', async () => {
      const s = await schema('group_overlap');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const b = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const ids = Array.from({ length: 24 }, (_, i) => `ovl-${String(i).padStart(2, '0')}`);
      for (const id of ids) {
        await a.commitUpload(upload(id, 10001));
        await b.commitUpload(upload(id, 10002));
      }
      let accepted = 0;
      for (let round = 0; round < 10; round++) {
        const nonce = 10003 + round;
        // Each instance gets every device's upload, in opposite orders, in the same turn.
        const forward = ids.map((id) => a.commitUpload(upload(id, nonce)));
        const backward = [...ids].reverse().map((id) => b.commitUpload(upload(id, nonce)));
        const results = await Promise.all([...forward, ...backward]);
        expect(results.filter((r) => !r.ok && r.code !== 'replayed_nonce')).toEqual([]);
        accepted += results.filter((r) => r.ok).length;
      }
      expect(accepted).toBe(ids.length * 10);
      const twice = await s.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM (SELECT 1 FROM uploads GROUP BY device_id, nonce HAVING count(*) > 1) t',
      );
      expect(twice[0].n).toBe(0);
      // No group was aborted (a deadlock would have been, and split).
      expect(a.groups.stats.splits + b.groups.stats.splits).toBe(0);
      expect(a.groups.stats.uploads + b.groups.stats.uploads).toBeGreaterThan(ids.length * 10);
      await a.close();
      await b.close();
    });

    it('takes the one-statement path for a known device, and never decides on a stale copy', async () => {
      const s = await schema('fast');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const b = await PostgresStorage.open({ url: s.url, poolSize: 4 });
      const audit = (action: string) => ({ time: 1, actor: 't', action, deviceId: 'fast', reason: null });
      expect(await a.commitUpload(upload('fast', 10001))).toMatchObject({ ok: true, registered: true });
      expect(await a.commitUpload(upload('fast', 10002))).toMatchObject({ ok: true });
      expect(a.commits).toEqual({ fast: 1, locked: 1, guardMisses: 0 });

      // Another instance advanced the device: a's copy is stale, the row decides.
      expect(await b.commitUpload(upload('fast', 10003))).toMatchObject({ ok: true });
      expect(await a.commitUpload(upload('fast', 10003))).toMatchObject({ ok: false, reason: 'duplicate' });
      expect(a.commits.guardMisses).toBe(1);
      expect(await a.commitUpload(upload('fast', 10004))).toMatchObject({ ok: true });

      // Registry changes made elsewhere reach a's next decision.
      await b.setDeviceStatus('fast', 'disabled', audit('device.disabled'));
      expect(await a.commitUpload(upload('fast', 10005))).toEqual({
        ok: false,
        code: 'policy',
        reason: 'device_disabled',
      });
      await b.setDeviceStatus('fast', 'active', audit('device.enabled'));
      expect(await a.commitUpload(upload('fast', 10005))).toMatchObject({ ok: true });
      await b.addDeviceKey(
        'fast',
        {
          kid: 'k1',
          kind: 'v1',
          hmacKey: '00',
          aesKey: null,
          iv: null,
          status: 'active',
          createdAt: 1,
          lastUsedAt: null,
          retiredAt: null,
        },
        audit('key.added'),
      );
      expect(await a.commitUpload(upload('fast', 10006))).toEqual({
        ok: false,
        code: 'policy',
        reason: 'fleet_key_not_allowed',
      });
      await b.resetReplay('fast', armedAt(500), audit('replay.reset'));
      expect(await a.commitUpload({ ...upload('fast', 501), keyKid: 'k1' })).toMatchObject({ ok: true });
      expect(await a.commitUpload({ ...upload('fast', 502), keyKid: 'k1' })).toMatchObject({ ok: true });
      expect(a.commits.fast).toBeGreaterThanOrEqual(2);
      const d = await a.getDevice('fast');
      expect(d?.counters.uploads).toBe(7);
      expect(d?.replay.high).toBe(502);
      await a.close();
      await b.close();
    });

    it('lets one instance own the outbox; another takes over when it closes', async () => {
      const s = await schema('leader');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      const b = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      await a.commitUpload(upload('own', 10001));
      const first = await a.pendingOutbox(10);
      expect(first.map((r) => r.kind)).toEqual(['device', 'upload']);
      expect(await b.pendingOutbox(10)).toEqual([]);
      expect([a.outboxOwner, b.outboxOwner]).toEqual([true, false]);
      await a.close();
      // The follower tries again at most once a second.
      await new Promise((r) => setTimeout(r, 1100));
      const taken = await b.pendingOutbox(10, 999);
      expect(taken.map((r) => r.id)).toEqual(first.map((r) => r.id));
      await b.markPublished(taken.map((r) => r.id));
      expect(await b.outboxStats()).toEqual({ depth: 0, oldestCreatedAt: null });
      await b.close();
    });

    it('hands the outbox over when its owner stops reading (its broker is unreachable)', async () => {
      const s = await schema('idle');
      const a = await PostgresStorage.open({ url: s.url, poolSize: 2, outboxIdleReleaseMs: 300 });
      const b = await PostgresStorage.open({ url: s.url, poolSize: 2, outboxIdleReleaseMs: 300 });
      await a.commitUpload(upload('idle', 10001));
      expect(await a.pendingOutbox(10)).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 1100));
      expect(a.outboxOwner).toBe(false);
      expect(await b.pendingOutbox(10)).toHaveLength(2);
      expect(b.outboxOwner).toBe(true);
      // The old owner, back, finds the outbox taken.
      expect(await a.pendingOutbox(10)).toEqual([]);
      await a.close();
      await b.close();
    });

    it('never lets the relay pass a record that commits after a later one was read', async () => {
      const s = await schema('order');
      const store = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      await store.commitUpload(upload('early', 10001));
      // A transaction takes an outbox id and stays open while a later one commits.
      const pool = store.pool;
      const slow = await pool.connect();
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO outbox (device_id, kind, ref_id, created_at) VALUES ('slow', 'device', 'slow', 1)`,
      );
      await store.commitUpload(upload('late', 10001));
      const seen = await store.pendingOutbox(100);
      expect(seen.map((r) => r.refId)).toEqual(['early', expect.any(String), 'late', expect.any(String)]);
      await slow.query('COMMIT');
      slow.release();
      const after = await store.pendingOutbox(100, seen[seen.length - 1].id);
      expect(after.map((r) => r.refId)).toEqual(['slow']);
      await store.close();
    });

    it('deletes uploads and readings older than the retention period', async () => {
      const s = await schema('retention');
      const store = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      const old = await store.commitUpload(upload('ret', 10001, 1_000_000));
      const recent = await store.commitUpload(upload('ret', 10002, 9_000_000));
      if (!old.ok || !recent.ok) throw new Error('commit failed');
      expect(await store.pruneOlderThan(5_000_000)).toBe(1);
      expect(await store.getUpload(old.uploadId)).toBeUndefined();
      expect(await store.getUpload(recent.uploadId)).toBeDefined();
      const page = await store.queryReadings('ret', { limit: 100 });
      expect(page.readings.map((r) => r.uploadId)).toEqual([recent.uploadId, recent.uploadId]);
      const keys = await s.query<{ n: number }>('SELECT count(*)::int AS n FROM packet_keys');
      expect(keys[0].n).toBe(1);
      // The device and its replay state stay: an old envelope is still a replay.
      expect(await store.commitUpload(upload('ret', 10001, 9_500_000))).toMatchObject({ ok: false });
      await store.close();
    });

    it('lives through the database dropping a connection that is in use, and carries on', async () => {
      const s = await schema('dropped');
      const store = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      const c = await store.pool.connect();
      const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await s.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      // The socket error reaches the client while it is checked out (no query running): an
      // 'error' event nobody listened to would end the process here.
      await new Promise((r) => setTimeout(r, 200));
      await expect(c.query('SELECT 1')).rejects.toThrow();
      c.release(new Error('connection lost'));
      expect(await store.commitUpload(upload('after-drop', 10001))).toMatchObject({ ok: true });
      await store.close();
    });

    it('answers 503-worthy errors, not wrong answers, when the database is gone', async () => {
      const s = await schema('down');
      const store = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      await s.drop();
      await expect(store.commitUpload(upload('gone', 10001))).rejects.toThrow();
      await store.close();
    });
  });
}

if (await servicesAvailable('postgres', 'redis')) {
  storageContract('PostgreSQL + Redis replay store', async () =>
    PostgresStorage.open({
      url: (await schema('contract_redis')).url,
      poolSize: 4,
      replay: await redisStore('contract'),
    }),
  );

  describe('Redis replay store', () => {
    const modes: ReplayMode[] = [
      { kind: 'strict' },
      { kind: 'window', size: 1 },
      { kind: 'window', size: 17 },
      { kind: 'window', size: 64 },
      { kind: 'window', size: 1024 },
    ];

    it('decides exactly as the pure rule, step by step', async () => {
      const store = await redisStore('equiv');
      let device = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...modes),
          fc.constantFrom<ReplayState>(UNARMED, armedAt(10000)),
          fc.array(fc.integer({ min: -40, max: 1100 }), { minLength: 1, maxLength: 40 }),
          async (mode, initial, steps) => {
            const id = `eq-${device++}`;
            let expected = initial;
            let fresh = true;
            let written = false;
            let last = 10000;
            for (const step of steps) {
              const nonce = Math.max(0, last + step);
              const want = checkReplay(expected, nonce, mode, 1000);
              const got = await store.checkAndAdvance({
                deviceId: id,
                nonce,
                mode,
                counterResetThreshold: 1000,
                stored: expected,
                fresh,
              });
              fresh = false;
              expect(got).toEqual(want);
              if (want.accept) {
                expected = want.next;
                last = nonce;
                written = true;
              }
            }
            expect(await store.peek(id)).toEqual(written ? expected : undefined);
          },
        ),
        { numRuns: 400 },
      );
      await store.close();
    });

    it('keeps every nonce the database copy holds even when Redis lost its state', async () => {
      const store = await redisStore('floor');
      const mode: ReplayMode = { kind: 'window', size: 32 };
      let state: ReplayState = armedAt(100);
      for (const n of [105, 103, 110]) {
        const d = checkReplay(state, n, mode, 1000);
        if (!d.accept) throw new Error('setup');
        state = d.next;
      }
      // Redis restarted from an old snapshot: it only knows nonce 100.
      await store.reset('floor', armedAt(100));
      for (const [n, reason] of [
        [110, 'duplicate'],
        [105, 'duplicate'],
        [103, 'duplicate'],
        [70, 'too_old'],
      ] as const) {
        const got = await store.checkAndAdvance({
          deviceId: 'floor',
          nonce: n,
          mode,
          counterResetThreshold: 1000,
          stored: state,
          fresh: false,
        });
        expect(got, String(n)).toEqual({ accept: false, reason });
      }
      const ok = await store.checkAndAdvance({
        deviceId: 'floor',
        nonce: 104,
        mode,
        counterResetThreshold: 1000,
        stored: state,
        fresh: false,
      });
      const want = checkReplay(state, 104, mode, 1000);
      if (!ok.accept || !want.accept) throw new Error('104 must be accepted');
      // The union also remembers what Redis knew below the window; inside it both agree.
      const window = (1n << 32n) - 1n;
      expect({ ...ok, next: { ...ok.next, seen: ok.next.seen & window } }).toEqual(want);
      await store.close();
    });

    it('remembers a nonce burned by a commit that failed after the Redis advance', async () => {
      const s = await schema('burn');
      const replay: ReplayStore = await redisStore('burn');
      const store = await PostgresStorage.open({ url: s.url, poolSize: 2, replay });
      expect(await store.commitUpload(upload('burn', 10001))).toMatchObject({ ok: true });
      // The advance reaches Redis, then the database refuses the transaction.
      await s.query('ALTER TABLE uploads ADD CONSTRAINT no_more CHECK (nonce < 10002) NOT VALID');
      await expect(store.commitUpload(upload('burn', 10002))).rejects.toThrow();
      await s.query('ALTER TABLE uploads DROP CONSTRAINT no_more');
      expect(await store.commitUpload(upload('burn', 10002))).toMatchObject({
        ok: false,
        reason: 'duplicate',
      });
      // The burned nonce counts as used, not as a missed upload.
      expect(await store.commitUpload(upload('burn', 10003))).toMatchObject({ ok: true, gap: 0 });
      expect((await store.getDevice('burn'))?.replay.high).toBe(10003);
      await store.close();
    });
  });
}
