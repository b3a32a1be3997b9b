/**
 * Readings that stay fast for years on PostgreSQL: the readings table partitioned by time, made
 * ahead and dropped whole by retention; `ecowatt migrate` from the schema before partitioning
 * with every reading read back; and the plan of a device-day query on 10^7 readings.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/adapters/postgres/migrate.js';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { PG_MIGRATIONS } from '../../src/adapters/postgres/schema.js';
import { numberParameters } from '../../src/adapters/sql/sql-executor.js';
import { MAX_BLOCK_SPAN_MS, READINGS_PAGE_SQL } from '../../src/adapters/sql/upload-reads.js';
import type { Reading, UploadCommit } from '../../src/ports/storage.js';
import { ecowatt } from '../helpers/cli.js';
import { startServer } from '../helpers/server-process.js';
import { createSchema, servicesAvailable, type TestSchema } from '../helpers/services.js';
import { uploadCommit } from '../helpers/upload-commit.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function schema(label: string): Promise<TestSchema> {
  const s = await createSchema(label);
  cleanups.push(() => s.drop());
  return s;
}

async function open(s: TestSchema, opts: Partial<Parameters<typeof PostgresStorage.open>[0]> = {}) {
  const store = await PostgresStorage.open({ url: s.url, poolSize: 2, ...opts });
  cleanups.push(() => store.close());
  return store;
}

/** An upload of `samples` samples of two registers, sampled at `time`. */
function sampledAt(deviceId: string, nonce: number, time: number, receivedAt = Date.now()): UploadCommit {
  const u = uploadCommit(deviceId, nonce, receivedAt);
  const packet = u.packets[0];
  if (!packet?.block) throw new Error('helper changed');
  const samples = 3;
  packet.block = {
    ...packet.block,
    time,
    samples,
    values: Array.from({ length: samples * 2 }, (_, i) => (nonce * 10 + i) % 65536),
    quality: Array.from({ length: samples * 2 }, () => 'exact' as const),
  };
  return u;
}

async function allReadings(store: PostgresStorage, deviceId: string): Promise<Reading[]> {
  const out: Reading[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryReadings(deviceId, { limit: 7, ...(cursor ? { cursor } : {}) });
    out.push(...page.readings);
    cursor = page.next ?? undefined;
  } while (cursor);
  return out;
}

const where = (s: TestSchema) =>
  s.query<{ p: string; n: number }>(
    'SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM blocks GROUP BY 1 ORDER BY 1',
  );

if (await servicesAvailable('postgres')) {
  describe('PostgreSQL readings partitions', () => {
    it('makes the partitions of today and the next days at start, and stores each reading in its own', async () => {
      const s = await schema('part_ahead');
      const store = await open(s);
      const today = Math.floor(Date.now() / DAY) * DAY;
      const names = (await store.partitions.list()).map((p) => p.name);
      expect(names).toEqual(
        expect.arrayContaining([
          `blocks_${new Date(today).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
          `blocks_${new Date(today + 2 * DAY).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
          'blocks_default',
        ]),
      );
      await store.commitUpload(sampledAt('d1', 10001, today + HOUR));
      await store.commitUpload(sampledAt('d1', 10002, today + DAY + HOUR));
      const rows = await where(s);
      expect(rows.map((r) => r.p)).toEqual([
        `blocks_${new Date(today).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
        `blocks_${new Date(today + DAY).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
      ]);
      expect(await allReadings(store, 'd1')).toHaveLength(12);
    });

    it('keeps readings no partition covers in the default one, and moves them into the partition a later run makes', async () => {
      const s = await schema('part_default');
      const store = await open(s, { partitionIntervalMs: 6 * HOUR });
      const lastWeek = Date.now() - 7 * DAY;
      await store.commitUpload(sampledAt('d1', 10001, lastWeek));
      expect((await where(s)).map((r) => r.p)).toEqual(['blocks_default']);
      const before = await allReadings(store, 'd1');
      const run = await store.partitions.maintain();
      expect(run).toMatchObject({ ran: true, moved: 1 });
      expect(run.created).toHaveLength(1);
      const rows = await where(s);
      expect(rows).toEqual([{ p: run.created[0], n: 1 }]);
      const made = (await store.partitions.list()).find((p) => p.name === run.created[0]);
      expect((made?.to as number) - (made?.from as number)).toBe(6 * HOUR);
      expect(await allReadings(store, 'd1')).toEqual(before);
      // A second run has nothing to do; two instances running together never clash.
      const other = await open(s, { partitionIntervalMs: 6 * HOUR });
      const [a, b] = await Promise.all([store.partitions.maintain(), other.partitions.maintain()]);
      expect([...a.created, ...b.created]).toEqual([]);
    });

    it('drops whole partitions at retention, deletes older rows only where no partition is whole, and keeps the rest', async () => {
      const s = await schema('part_retention');
      const store = await open(s);
      const today = Math.floor(Date.now() / DAY) * DAY;
      // Three days back, two days back and today, each in a partition of its own…
      for (const [i, t] of [today - 3 * DAY, today - 2 * DAY, today + HOUR].entries()) {
        await store.commitUpload(sampledAt('d1', 10001 + i, t, t + 60_000));
      }
      await store.partitions.maintain();
      // …and one from a clock at 1970, which no partition covers.
      await store.commitUpload(sampledAt('d2', 10001, 1_000, 1_000));
      expect((await where(s)).map((r) => r.p)).toContain('blocks_default');
      expect((await where(s)).length).toBe(4);
      const cutoff = today - 2 * DAY + HOUR;
      const run = await store.partitions.dropOlderThan(cutoff);
      expect(run.dropped).toEqual([
        `blocks_${new Date(today - 3 * DAY).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
      ]);
      expect(run.deleted).toBe(1); // the 1970 reading, from the default partition
      const left = (await allReadings(store, 'd1')).map((r) => r.time);
      // The partition straddling the cutoff is kept whole until all of it is older.
      expect(Math.min(...left)).toBe(today - 2 * DAY);
      expect(await allReadings(store, 'd2')).toEqual([]);
      // Uploads older than the cutoff go too, with the storage's retention run.
      expect(await store.pruneOlderThan(cutoff)).toBe(3);
    });
  });

  it('stops the server at start-up on a partition interval that is not a duration, naming the setting', async () => {
    await expect(
      startServer({
        env: { ECOWATT_DATABASE_URL: (await schema('part_bad')).url, ECOWATT_PARTITION_INTERVAL: '36 hours' },
      }),
    ).rejects.toThrow(/ECOWATT_PARTITION_INTERVAL/);
  });

  describe('ecowatt migrate: from the schema before partitioning', () => {
    it('partitions the readings without losing or changing one, and new readings follow', async () => {
      const s = await schema('part_migrate');
      // The database as the previous release left it: migrations 1–9, with data.
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      await migrate(
        c,
        PG_MIGRATIONS.filter((m) => m.version <= 9),
      );
      await c.end();
      const old = await PostgresStorage.open({ url: s.url, poolSize: 2, migrate: false });
      const now = Date.now();
      const devices = ['m1', 'm2', 'm3'];
      let nonce = 10001;
      for (const d of devices) {
        // A year back to today, and one from a clock two days ahead.
        for (const t of [now - 365 * DAY, now - 40 * DAY, now - 2 * DAY, now - HOUR, now + 2 * DAY]) {
          const r = await old.commitUpload(sampledAt(d, nonce++, t, now - 365 * DAY + nonce));
          expect(r.ok).toBe(true);
        }
      }
      const before = new Map<string, Reading[]>();
      for (const d of devices) before.set(d, await allReadings(old, d));
      expect(before.get('m1')).toHaveLength(30);
      await old.close();
      const [{ n: oldCount }] = await s.query<{ n: number }>('SELECT count(*)::int AS n FROM blocks');

      const out = await ecowatt(undefined, 'migrate', '--database-url', s.url, '--json');
      expect(out.stderr).toBe('');
      const latest = Math.max(...PG_MIGRATIONS.map((m) => m.version));
      expect(JSON.parse(out.stdout)).toMatchObject({
        applied: expect.arrayContaining([10]),
        current: latest,
      });

      const store = await open(s);
      for (const d of devices) expect(await allReadings(store, d)).toEqual(before.get(d));
      const placed = await where(s);
      expect(placed.reduce((n, r) => n + r.n, 0)).toBe(oldCount);
      // The old table is the partition of everything before the upgrade: no row was copied.
      expect(placed.find((r) => r.p === 'blocks_legacy')?.n).toBe(12);
      expect(placed.some((r) => r.p === 'blocks_default')).toBe(false);
      // New readings get new ids and land in the day's partition.
      const next = await store.commitUpload(sampledAt('m1', nonce++, now + 60_000));
      expect(next.ok).toBe(true);
      const after = await allReadings(store, 'm1');
      expect(after).toHaveLength(36);
      const ids = await s.query<{ n: number; d: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM blocks',
      );
      expect(ids[0]?.n).toBe(ids[0]?.d);
      // Retention reaches the old table too: a year-old reading is deleted, newer ones stay.
      await store.partitions.dropOlderThan(now - 100 * DAY);
      expect((await allReadings(store, 'm1')).length).toBe(30);
    });
  });

  describe('a device-day query on 10^7 readings across 100 devices', () => {
    it('reads only the index of the partitions the day touches', async () => {
      const s = await schema('part_explain');
      const store = await open(s);
      const today = Math.floor(Date.now() / DAY) * DAY;
      // 100 devices × 10 days × 200 blocks × 50 readings (5 samples × 10 registers) = 10^7 readings.
      const values = JSON.stringify(Array.from({ length: 50 }, (_, i) => 1000 + i));
      await s.query(
        `INSERT INTO blocks (device_id, time, step, samples, upload_id, packet_idx, layout, raw, quality)
         SELECT 'dev' || d, $1::bigint + day * ${DAY} + b * 432000 + d, 2000, 5, day * 1000000 + d * 1000 + b, 0,
                '0,1,2,3,4,5,6,7,8,9', $2, repeat('e', 50)
           FROM generate_series(0, 99) d, generate_series(0, 9) day, generate_series(0, 199) b`,
        [today - 9 * DAY, values],
      );
      const run = await store.partitions.maintain();
      expect(run.moved).toBe(100 * 9 * 200); // the nine past days were in no partition yet
      await s.query('VACUUM ANALYZE blocks');
      const [{ readings }] = await s.query<{ readings: number }>(
        'SELECT sum(length(quality))::int AS readings FROM blocks',
      );
      expect(readings).toBe(10_000_000);

      const day = today - 4 * DAY;
      const params = [
        'dev42',
        day - MAX_BLOCK_SPAN_MS,
        day + DAY - 1,
        Number.MIN_SAFE_INTEGER,
        Number.MIN_SAFE_INTEGER,
        0,
        500,
      ];
      const expected = new Set([
        `blocks_${new Date(day - DAY).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
        `blocks_${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}t0000`,
      ]);
      interface PlanNode {
        'Node Type': string;
        'Relation Name'?: string;
        'Index Name'?: string;
        'Actual Loops'?: number;
        Plans?: PlanNode[];
      }
      const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
      // Every table access goes through the device-time index of a partition the range touches:
      // an index scan, or a bitmap built from that index alone; never a table or another partition.
      const check = (plan: PlanNode, executed: (n: PlanNode) => boolean) => {
        const all = nodes(plan).filter(executed);
        expect(all.map((n) => n['Node Type'])).not.toContain('Seq Scan');
        const reads = all.filter((n) => n['Relation Name'] !== undefined);
        expect(reads.length).toBeGreaterThan(0);
        for (const n of reads) {
          expect(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']).toContain(n['Node Type']);
          expect(expected.has(n['Relation Name'] as string)).toBe(true);
          const via = n['Node Type'] === 'Bitmap Heap Scan' ? nodes(n).filter((m) => m !== n) : [n];
          expect(via.length).toBeGreaterThan(0);
          for (const m of via) {
            expect(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']).toContain(m['Node Type']);
            expect(m['Index Name']).toMatch(/^blocks_.*device_id_time_id_idx$|^blocks_legacy_device_time$/);
          }
        }
      };
      const client = new pg.Client({ connectionString: s.url });
      await client.connect();
      cleanups.push(() => client.end());
      const sql = numberParameters(READINGS_PAGE_SQL);
      // As first planned for the values given…
      const custom = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
        params,
      );
      check(custom.rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode, () => true);
      // …and as a prepared statement's generic plan: partitions the day misses are never executed.
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE page(text, bigint, bigint, bigint, bigint, bigint, int) AS ${sql}`);
      const generic = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page(${params.map((p) => (typeof p === 'string' ? `'${p}'` : p)).join(', ')})`,
      );
      check(generic.rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode, (n) => (n['Actual Loops'] ?? 0) > 0);
      // The answer is the device's day (and the look-back), nothing else.
      const page = await store.queryReadings('dev42', { from: day, to: day + DAY - 1, limit: 20_000 });
      expect(page.readings).toHaveLength(200 * 50);
      expect(page.readings.every((r) => r.time >= day && r.time < day + DAY)).toBe(true);
    }, 180_000);
  });
}
