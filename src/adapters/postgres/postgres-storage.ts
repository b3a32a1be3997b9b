/**
 * The production store: PostgreSQL behind the Storage port, for one or many stateless instances.
 *
 * Every decision that must hold across instances is taken on the device row as it is when the
 * upload is written: the upload policy, the replay check (in the row, or in Redis through the
 * ReplayStore port) and the upload itself are one transaction holding the row's lock
 * (`FOR NO KEY UPDATE`). Concurrent copies of one envelope, on any connections of any instances,
 * queue on that lock; the first commits, the others then see its advance and are refused. A known
 * device's upload usually commits as one guarded statement decided on a cached copy of its row
 * (upload-sql.ts explains why that is the same decision). `commitUpload` settles only after the
 * commit returned (durable with the server's default `synchronous_commit=on`). Fast-path uploads
 * of one turn of the event loop are committed together (upload-groups.ts).
 *
 * The other roles are written once for both databases (sql-storage.ts); this adapter adds to them
 * what only it has: the registry version and cached rows the fast path relies on (kept in step
 * with every registry change), outbox ownership across instances, and retention.
 */

import type pg from 'pg';
import { checkUploadPolicy } from '../../devices/upload-policy.js';
import { keysRetiredByUse } from '../../model/device.js';
import { parseReplayMode, type ReplayState } from '../../model/replay.js';
import { armedAt } from '../../model/replay-window.js';
import type { OutboxRecord } from '../../ports/outbox.js';
import type { ReplayStore } from '../../ports/replay-store.js';
import type { CommitOutcome, NonceOutcome, UploadCommit } from '../../ports/storage.js';
import { SqlDeviceRegistry } from '../sql/device-registry.js';
import { encodeSeen, newDeviceValues, policyFromRow, replayFromRow } from '../sql/device-rows.js';
import { DeviceWrites, type RegistryHooks } from '../sql/device-writes.js';
import { SqlSecurityEventStore } from '../sql/event-store.js';
import { EventWrites } from '../sql/event-writes.js';
import { SqlOutbox } from '../sql/outbox-store.js';
import { OutboxWrites } from '../sql/outbox-writes.js';
import { SqlReportStore } from '../sql/report-store.js';
import { ReportWrites } from '../sql/report-writes.js';
import { SqlStorage, type StorageRoles } from '../sql/sql-storage.js';
import { UploadReads } from '../sql/upload-reads.js';
import { BlockPartitions } from './block-partitions.js';
import { inTransactionReplay } from './in-transaction-replay.js';
import { migrate } from './migrate.js';
import { OutboxLeader, STAMP_OUTBOX } from './outbox-leader.js';
import { createPool, lockKeys } from './pool.js';
import { PostgresExecutor } from './postgres-executor.js';
import { UploadGroups } from './upload-groups.js';
import {
  ACTIVE_KIDS,
  LOCK_DEVICE,
  type LockedDeviceRow,
  REGISTER_DEVICE,
  RETIRE_KEYS,
  WRITE_UPLOAD,
  type WrittenUpload,
  writeUploadValues,
} from './upload-sql.js';

export interface PostgresOptions {
  /** `postgres://…`; `?options=-c search_path=<schema>` selects a schema. */
  url: string;
  poolSize: number;
  /** Keep an MQTT outbox (default true); off when nothing publishes, or it would only grow. */
  outbox?: boolean;
  /** Where replay state is decided (default: the device row, in the upload's transaction). */
  replay?: ReplayStore;
  /** Uploads and their readings older than this are deleted (0 = never). */
  retentionDays?: number;
  /** How often partition upkeep and retention run (default hourly; once shortly after start too). */
  retentionIntervalMs?: number;
  /** The time span of one readings partition (default one day; see block-partitions.ts). */
  partitionIntervalMs?: number;
  /** Write a transaction's statements without waiting for each answer (default true). */
  pipeline?: boolean;
  /** Most uploads of the fast path committed in one transaction (default 64; 1 = no grouping). */
  groupMax?: number;
  /** Apply pending migrations at open (default true). */
  migrate?: boolean;
  /** An outbox owner whose relay has not read for this long gives ownership up (default 15 s). */
  outboxIdleReleaseMs?: number;
}

const DAY_MS = 86_400_000;
const RETENTION_BATCH = 1000;

type Query = string | { name: string; text: string };

/** Most fast-path uploads in one transaction. */
const DEFAULT_GROUP_MAX = 64;

/** Devices whose last known row this instance keeps for the fast upload path. */
const DEVICE_CACHE_SIZE = 100_000;

/** An upload's decision: write it (with what) or refuse it. */
type Decision =
  | { write: false; outcome: CommitOutcome }
  | { write: true; before: ReplayState; state: ReplayState; gap: number; retired: string[] };

/** What a transaction's work decided. */
type Step<T> =
  | { commit: false; value: T }
  | { commit: true; last: [Query, unknown[]?][]; result: (answers: pg.QueryResult[]) => T };

export class PostgresStorage extends SqlStorage {
  private readonly outbox: boolean;
  private readonly replay: ReplayStore;
  private readonly pipeline: boolean;
  private readonly leader: OutboxLeader;
  /** Fire-and-forget writes (events, reject counters) still running. */
  private readonly background = new Set<Promise<unknown>>();
  /** The last known row of recently seen devices (see upload-sql.ts: the fast path). */
  private readonly devices = new Map<string, LockedDeviceRow>();
  /** How uploads were committed: for tests and diagnostics. */
  readonly commits = { fast: 0, locked: 0, guardMisses: 0 };
  /** The fast path's group commit. */
  readonly groups: UploadGroups;
  /** The readings table's time partitions: made ahead, dropped by retention. */
  readonly partitions: BlockPartitions;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRun: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** The SQL executor the stores written once for both databases run on. */
  readonly sql: PostgresExecutor;
  protected readonly roles: StorageRoles;

  private constructor(
    readonly pool: pg.Pool,
    opts: PostgresOptions,
  ) {
    super();
    this.outbox = opts.outbox ?? true;
    this.replay = opts.replay ?? inTransactionReplay;
    this.pipeline = opts.pipeline ?? true;
    this.leader = new OutboxLeader(opts.url, opts.outboxIdleReleaseMs);
    this.groups = new UploadGroups(pool, opts.groupMax ?? DEFAULT_GROUP_MAX);
    this.partitions = new BlockPartitions(pool, opts.partitionIntervalMs ?? DAY_MS);
    const sql = new PostgresExecutor(pool);
    this.sql = sql;
    const background = (write: Promise<unknown>) => this.inBackground(write);
    this.roles = {
      uploads: new UploadReads(sql),
      registry: new SqlDeviceRegistry(sql, new DeviceWrites(sql, this.registryHooks()), background),
      events: new SqlSecurityEventStore(sql, new EventWrites(sql, this.outbox), background),
      reports: new SqlReportStore(sql, new ReportWrites(sql)),
      outbox: new SqlOutbox(sql, new OutboxWrites(sql, 'seq'), 'seq'),
    };
  }

  /** What the upload fast path and the replay store need of every registry change. */
  private registryHooks(): RegistryHooks {
    return {
      replaySet: (id, state) => this.replay.reset(id, state),
      // Uploads decided on an older copy of this row fail their guard (upload-sql.ts).
      changed: async (tx, id) => {
        await tx.run('UPDATE devices SET registry_version = registry_version + 1 WHERE id = ?', [id]);
      },
      forget: (id) => this.devices.delete(id),
    };
  }

  static async open(opts: PostgresOptions): Promise<PostgresStorage> {
    const pipeline = opts.pipeline ?? true;
    const pool = createPool({ url: opts.url, size: opts.poolSize, pipeline });
    try {
      if (opts.migrate ?? true) {
        const client = await pool.connect();
        try {
          await migrate(client);
        } finally {
          client.release();
        }
      } else {
        await pool.query('SELECT 1');
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      await opts.replay?.close();
      throw new Error(`PostgreSQL: ${(err as Error).message}`);
    }
    const storage = new PostgresStorage(pool, { ...opts, pipeline });
    const days = opts.retentionDays ?? 0;
    try {
      // This slot's partition and the next ones exist before the first upload.
      await storage.partitions.maintain(Date.now(), days > 0 ? Date.now() - days * DAY_MS : undefined);
    } catch (err) {
      await storage.close();
      throw new Error(`PostgreSQL: readings partitions: ${(err as Error).message}`);
    }
    storage.scheduleUpkeep(days, opts.retentionIntervalMs ?? 3_600_000);
    return storage;
  }

  /** Statements of one transaction: written back to back when pipelining, else one at a time. */
  private async send(c: pg.PoolClient, queries: [Query, unknown[]?][]): Promise<pg.QueryResult[]> {
    const run = ([q, values]: [Query, unknown[]?]) =>
      typeof q === 'string' ? c.query(q, values) : c.query({ ...q, values: values ?? [] });
    if (this.pipeline) return Promise.all(queries.map(run));
    const out: pg.QueryResult[] = [];
    for (const q of queries) out.push(await run(q));
    return out;
  }

  /**
   * Runs `work` in a transaction opened together with its first statement. `work` decides: commit
   * (with the statements still to run, sent together with COMMIT) or roll back (nothing to keep,
   * and no WAL flush to wait for). On an error the connection is discarded, which aborts.
   */
  private async transaction<T>(
    first: [Query, unknown[]?][],
    work: (c: pg.PoolClient, first: pg.QueryResult[]) => Promise<Step<T>>,
  ): Promise<T> {
    const c = await this.pool.connect();
    let failure: Error | undefined;
    try {
      const [, ...firstResults] = await this.send(c, [['BEGIN'], ...first]);
      const step = await work(c, firstResults);
      if (!step.commit) {
        await c.query('ROLLBACK');
        return step.value;
      }
      const answers = await this.send(c, [...step.last, ['COMMIT']]);
      // COMMIT of a transaction an error aborted answers ROLLBACK instead of failing.
      if (answers[answers.length - 1].command !== 'COMMIT') throw new Error('transaction was rolled back');
      return step.result(answers);
    } catch (err) {
      failure = err as Error;
      throw err;
    } finally {
      c.release(failure);
    }
  }

  /** Remembers what an upload's decision depends on (bounded: the oldest entry goes first). */
  private remember(id: string, row: LockedDeviceRow): void {
    this.devices.delete(id);
    this.devices.set(id, row);
    if (this.devices.size > DEVICE_CACHE_SIZE)
      this.devices.delete(this.devices.keys().next().value as string);
  }

  /** The policy and replay decision on a device row (locked, or this instance's cached copy). */
  private async decide(row: LockedDeviceRow, u: UploadCommit, fresh: boolean): Promise<Decision> {
    const policy = policyFromRow(row);
    const rejection = checkUploadPolicy(
      {
        status: row.status === 'disabled' ? 'disabled' : 'active',
        policy,
        hasOwnKeys: row.active_kids.length > 0,
      },
      u,
    );
    if (rejection) return { write: false, outcome: { ok: false, code: 'policy', reason: rejection } };
    const before = replayFromRow(row);
    let state = before;
    let gap = 0;
    if (u.nonce !== null) {
      const decision = await this.replay.checkAndAdvance({
        deviceId: u.deviceId,
        nonce: u.nonce,
        // The device row's mode is the one that counts.
        mode: policy.replay,
        counterResetThreshold: u.counterResetThreshold,
        stored: before,
        fresh,
      });
      if (!decision.accept) {
        return {
          write: false,
          outcome: { ok: false, code: 'replayed_nonce', reason: decision.reason, high: before.high },
        };
      }
      state = decision.next;
      gap = decision.gap;
    }
    const retired = keysRetiredByUse(row.active_kids, u.keyKid);
    return { write: true, before, state, gap, retired };
  }

  private written(
    u: UploadCommit,
    d: Extract<Decision, { write: true }>,
    w: WrittenUpload,
    registered: boolean,
  ): CommitOutcome {
    const fresh = new Set(w.fresh);
    return {
      ok: true,
      uploadId: String(w.upload_id),
      gap: d.gap,
      duplicatePackets: u.packets.filter((pk) => !fresh.has(pk.index)).map((pk) => pk.index),
      readingsStored: w.readings,
      samplesStored: w.samples,
      registered,
      retiredKeys: d.retired,
    };
  }

  async commitUpload(u: UploadCommit): Promise<CommitOutcome> {
    // Fast path: decided on the cached row, written by one guarded statement (its own
    // transaction). Only acceptances are trusted to the cache; with Redis the decision has a side
    // effect, so it is taken under the lock only.
    const cached = this.replay.kind === 'database' ? this.devices.get(u.deviceId) : undefined;
    if (cached) {
      const d = await this.decide(cached, u, false);
      if (d.write && d.retired.length === 0) {
        let w: WrittenUpload;
        try {
          const values = writeUploadValues(u, d.gap, d.state, this.outbox, false, {
            registryVersion: cached.registry_version,
            before: d.before,
          });
          w = await this.groups.write(u.deviceId, values);
        } catch (err) {
          this.devices.delete(u.deviceId);
          throw err;
        }
        if (w.upload_id !== null) {
          this.commits.fast++;
          this.remember(u.deviceId, {
            ...cached,
            replay_high: d.state.high,
            replay_seen: encodeSeen(d.state.seen),
          });
          return this.written(u, d, w, false);
        }
      }
      // The row changed since (another upload, instance or administrator): decide again under the lock.
      this.commits.guardMisses++;
      this.devices.delete(u.deviceId);
    }
    return this.lockedCommit(u);
  }

  private readDevice(id: string): [Query, unknown[]][] {
    return [
      [LOCK_DEVICE, [id]],
      [ACTIVE_KIDS, [id]],
    ];
  }

  private lockedCommit(u: UploadCommit): Promise<CommitOutcome> {
    const id = u.deviceId;
    const rowOf = (locked: pg.QueryResult, kids: pg.QueryResult): LockedDeviceRow | undefined =>
      locked.rows[0]
        ? { ...(locked.rows[0] as LockedDeviceRow), active_kids: kids.rows[0].active_kids }
        : undefined;
    return this.transaction<CommitOutcome>(this.readDevice(id), async (c, [locked, kids]) => {
      let row = rowOf(locked, kids);
      let registered = false;
      if (!row) {
        const rejection = checkUploadPolicy(
          { status: 'active', policy: u.registerWith, hasOwnKeys: false },
          u,
        );
        if (rejection) return { commit: false, value: { ok: false, code: 'policy', reason: rejection } };
        const inserted = await c.query(
          REGISTER_DEVICE,
          newDeviceValues({
            id,
            status: 'active',
            policy: u.registerWith,
            autoRegistered: true,
            createdAt: u.receivedAt,
            replay: armedAt(u.initialHigh),
          }),
        );
        // Not inserted: registered concurrently by another upload, whose row then decides.
        registered = inserted.rowCount === 1;
        const [l, k] = await this.send(c, this.readDevice(id));
        row = rowOf(l, k) as LockedDeviceRow;
      }
      const read = row;
      const d = await this.decide(read, u, registered);
      if (!d.write) {
        if (!registered) this.remember(id, read);
        return { commit: false, value: d.outcome };
      }
      const values = writeUploadValues(u, d.gap, d.state, this.outbox, registered, {
        registryVersion: read.registry_version,
        before: d.before,
      });
      const last: [Query, unknown[]?][] = [[WRITE_UPLOAD, values]];
      if (d.retired.length > 0) {
        last.push([RETIRE_KEYS, [id, u.receivedAt, d.retired, `device used its new key ${u.keyKid}`]]);
      }
      return {
        commit: true,
        last,
        result: (answers) => {
          const w = answers[0].rows[0] as WrittenUpload;
          if (w.upload_id === null) throw new Error('upload guard failed on a locked device row');
          this.commits.locked++;
          this.remember(id, {
            ...read,
            replay_high: d.state.high,
            replay_seen: encodeSeen(d.state.seen),
            registry_version: read.registry_version + (d.retired.length > 0 ? 1 : 0),
            active_kids: read.active_kids.filter((kid) => !d.retired.includes(kid)),
          });
          return this.written(u, d, w, registered);
        },
      };
    });
  }

  acceptNonce(deviceId: string, nonce: number, counterResetThreshold: number): Promise<NonceOutcome> {
    return this.transaction<NonceOutcome>([[LOCK_DEVICE, [deviceId]]], async (_c, [locked]) => {
      const row = locked.rows[0] as Omit<LockedDeviceRow, 'active_kids'> | undefined;
      if (!row) return { commit: false, value: { ok: false, reason: 'unknown_device', high: null } };
      const stored = replayFromRow(row);
      const decision = await this.replay.checkAndAdvance({
        deviceId,
        nonce,
        mode: parseReplayMode(row.replay_mode, 'replay_mode'),
        counterResetThreshold,
        stored,
        fresh: false,
      });
      if (!decision.accept) {
        return { commit: false, value: { ok: false, reason: decision.reason, high: stored.high } };
      }
      return {
        commit: true,
        last: [
          [
            `UPDATE devices SET replay_high = $1, replay_seen = $2, last_nonce = $3, nonce_gaps = nonce_gaps + $4
             WHERE id = $5`,
            [decision.next.high, encodeSeen(decision.next.seen), nonce, Math.max(0, decision.gap), deviceId],
          ],
        ],
        result: () => {
          // Keep the cached copy current: the device's next upload then takes the fast path.
          const cached = this.devices.get(deviceId);
          if (cached && cached.registry_version === row.registry_version) {
            this.remember(deviceId, {
              ...cached,
              replay_high: decision.next.high,
              replay_seen: encodeSeen(decision.next.seen),
            });
          }
          return { ok: true, gap: decision.gap };
        },
      };
    });
  }

  private inBackground(work: Promise<unknown>): void {
    const p = work.catch(() => undefined);
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Only the instance owning the outbox answers (outbox-leader.ts), on the owner's connection. */
  override async pendingOutbox(limit: number, afterId = 0): Promise<OutboxRecord[]> {
    const c = await this.leader.acquire();
    if (!c) return [];
    const after = this.leader.takeFromStart() ? 0 : afterId;
    try {
      await c.query(STAMP_OUTBOX);
      return await this.roles.outbox.pendingOn(this.sql.session(c), limit, after);
    } catch (err) {
      this.leader.lost(c);
      throw err;
    }
  }

  /** Whether this instance's relay currently owns the outbox. */
  get outboxOwner(): boolean {
    return this.leader.isLeader;
  }

  /**
   * Deletes uploads received before `cutoff` with their packets and dedupe keys, in short
   * transactions, and the readings sampled before it (whole partitions; see block-partitions.ts);
   * one instance at a time (the others skip the run). Returns uploads deleted.
   */
  async pruneOlderThan(cutoff: number): Promise<number> {
    await this.partitions.dropOlderThan(cutoff);
    const c = await this.pool.connect();
    let failure: Error | undefined;
    try {
      const lock = await c.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(${lockKeys('retention')}) AS ok`,
      );
      if (!lock.rows[0].ok) return 0;
      try {
        let total = 0;
        for (;;) {
          const { rows } = await c.query<{ n: number }>(
            `WITH u AS (
               DELETE FROM uploads WHERE id IN
                 (SELECT id FROM uploads WHERE received_at < $1 ORDER BY received_at LIMIT $2) RETURNING id
             ),
             p AS (DELETE FROM packets WHERE upload_id IN (SELECT id FROM u)),
             -- the id range lets the BRIN index find the keys
             k AS (DELETE FROM packet_keys WHERE upload_id BETWEEN (SELECT min(id) FROM u) AND (SELECT max(id) FROM u)
                     AND upload_id IN (SELECT id FROM u))
             SELECT count(*) AS n FROM u`,
            [cutoff, RETENTION_BATCH],
          );
          total += rows[0].n;
          if (rows[0].n < RETENTION_BATCH || this.closed) return total;
        }
      } finally {
        await c.query(`SELECT pg_advisory_unlock(${lockKeys('retention')})`);
      }
    } catch (err) {
      failure = err as Error;
      throw err;
    } finally {
      c.release(failure);
    }
  }

  /** Partitions made ahead and, with retention on, old data deleted: shortly after start, then every interval. */
  private scheduleUpkeep(days: number, intervalMs: number): void {
    const run = () => {
      const now = Date.now();
      const cutoff = days > 0 ? now - days * DAY_MS : undefined;
      this.retentionRun = this.partitions
        .maintain(now, cutoff)
        .then(() => (cutoff === undefined ? 0 : this.pruneOlderThan(cutoff)))
        .catch(() => undefined);
    };
    setTimeout(run, 5000).unref();
    this.retentionTimer = setInterval(run, intervalMs);
    this.retentionTimer.unref();
  }

  async ping(): Promise<void> {
    // A probe after a fire-and-forget write (an event) sees it stored.
    await Promise.allSettled([...this.background]);
    await this.pool.query('SELECT 1');
    await this.replay.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retentionTimer);
    await Promise.allSettled([...this.background, this.retentionRun]);
    await this.leader.close();
    await this.pool.end();
    await this.replay.close();
  }
}
