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
 * commit returned (durable with the server's default `synchronous_commit=on`). PostgreSQL
 * already shares WAL flushes between concurrent commits, so there is no group commit here.
 */

import type pg from 'pg';
import { armedAt } from '../../ingest/replay-window.js';
import { checkUploadPolicy } from '../../ingest/upload-policy.js';
import type { Device, DeviceKey, DevicePolicy, DeviceStatus } from '../../model/device.js';
import { keysRetiredByUse } from '../../model/device.js';
import { parseReplayMode, type ReplayState, replayModeToString } from '../../model/replay.js';
import { eventJson } from '../../observability/event-json.js';
import type { OutboxKind, OutboxRecord, OutboxStats, UploadBlocks } from '../../ports/outbox.js';
import type { ReplayStore } from '../../ports/replay-store.js';
import type {
  AuditEntry,
  CommitOutcome,
  DeviceReport,
  DeviceReportKind,
  EventQuery,
  NewDevice,
  NonceOutcome,
  Reading,
  ReadingPage,
  ReadingQuery,
  ReportRetention,
  SecurityEvent,
  Storage,
  StoredAuditEntry,
  StoredDeviceReport,
  StoredSecurityEvent,
  StoredUpload,
  UploadCommit,
} from '../../ports/storage.js';
import { type BlockRow, blockFromRow } from '../blocks.js';
import { UploadReads } from '../sql/upload-reads.js';
import { inTransactionReplay } from './in-transaction-replay.js';
import { migrate } from './migrate.js';
import { OutboxLeader, PENDING_OUTBOX, STAMP_OUTBOX } from './outbox-leader.js';
import { createPool, lockKeys } from './pool.js';
import { PostgresExecutor } from './postgres-executor.js';
import {
  deviceFromRow,
  encodeSeen,
  type KeyRow,
  type LockedDeviceRow,
  type PgDeviceRow,
  policyFromRow,
  replayFromRow,
} from './rows.js';
import {
  ACTIVE_KIDS,
  LOCK_DEVICE,
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
  /** How often retention runs (default hourly; once shortly after start too). */
  retentionIntervalMs?: number;
  /** Write a transaction's statements without waiting for each answer (default true). */
  pipeline?: boolean;
  /** Apply pending migrations at open (default true). */
  migrate?: boolean;
  /** An outbox owner whose relay has not read for this long gives ownership up (default 15 s). */
  outboxIdleReleaseMs?: number;
}

const DAY_MS = 86_400_000;
const RETENTION_BATCH = 1000;

type Query = string | { name: string; text: string };

/** A device's columns for the registry (not its decoder state, which can be large). */
const DEVICE_COLUMNS = `id, status, allow_unsecured, allow_unsecured_config, require_v2, require_encryption, replay_mode,
  auto_registered, created_at, first_seen, last_seen, last_nonce, last_source, generation, auth_source, auth_at,
  replay_high, replay_seen, uploads, readings, quarantined_packets, duplicate_packets, nonce_gaps, rejects,
  control_counts`;

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

interface EventRow {
  id: number;
  time: number;
  device_id: string | null;
  code: string;
  reason: string;
  source: string | null;
  nonce: number | null;
  request_id: string | null;
  detail: Record<string, unknown> | null;
}

interface ReportRow {
  id: number;
  device_id: string;
  kind: StoredDeviceReport['kind'];
  received_at: number;
  source: string;
  verified: boolean;
  body: Record<string, unknown>;
}

const reportFromRow = (r: ReportRow): StoredDeviceReport => ({
  id: r.id,
  deviceId: r.device_id,
  kind: r.kind,
  receivedAt: r.received_at,
  source: r.source,
  verified: r.verified,
  body: r.body,
});

interface AuditRow {
  id: number;
  time: number;
  actor: string;
  action: string;
  device_id: string | null;
  reason: string | null;
  detail: Record<string, unknown> | null;
}

const isId = (id: string) => /^\d{1,15}$/.test(id);

export class PostgresStorage implements Storage {
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
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRun: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** Reads written once for every database (src/adapters/sql). */
  private readonly reads: UploadReads;
  /** The SQL executor the stores written once for both databases run on. */
  readonly sql: PostgresExecutor;

  private constructor(
    readonly pool: pg.Pool,
    opts: PostgresOptions,
  ) {
    this.outbox = opts.outbox ?? true;
    this.replay = opts.replay ?? inTransactionReplay;
    this.pipeline = opts.pipeline ?? true;
    this.leader = new OutboxLeader(opts.url, opts.outboxIdleReleaseMs);
    this.sql = new PostgresExecutor(pool);
    this.reads = new UploadReads(this.sql);
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
    if (days > 0) storage.scheduleRetention(days, opts.retentionIntervalMs ?? 3_600_000);
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
    const rejection = checkUploadPolicy(
      {
        status: row.status === 'disabled' ? 'disabled' : 'active',
        policy: policyFromRow(row),
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
        mode: parseReplayMode(row.replay_mode, 'replay_mode'),
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
          w = (await this.pool.query<WrittenUpload>({ ...WRITE_UPLOAD, values })).rows[0];
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
        const replay = armedAt(u.initialHigh);
        const inserted = await c.query(`${REGISTER_DEVICE} ON CONFLICT (id) DO NOTHING`, [
          id,
          'active',
          u.registerWith.allowUnsecured,
          u.registerWith.requireEncryption,
          replayModeToString(u.registerWith.replay),
          true,
          u.receivedAt,
          replay.high,
          encodeSeen(replay.seen),
          u.registerWith.allowUnsecuredConfig ?? false,
          u.registerWith.requireV2 ?? false,
        ]);
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

  async getDevice(id: string): Promise<Device | undefined> {
    const [d, k] = await Promise.all([
      this.pool.query<PgDeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`, [id]),
      this.pool.query<KeyRow>('SELECT * FROM device_keys WHERE device_id = $1 ORDER BY created_at, kid', [
        id,
      ]),
    ]);
    return d.rows[0] ? deviceFromRow(d.rows[0], k.rows) : undefined;
  }

  async loadDecoderState(deviceId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ decoder_state: string | null }>(
      'SELECT decoder_state FROM devices WHERE id = $1',
      [deviceId],
    );
    return rows[0]?.decoder_state ?? null;
  }

  async listDevices(): Promise<Device[]> {
    const [d, k] = await Promise.all([
      this.pool.query<PgDeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY id`),
      this.pool.query<KeyRow>('SELECT * FROM device_keys ORDER BY created_at, kid'),
    ]);
    const keys = new Map<string, KeyRow[]>();
    for (const key of k.rows) {
      const list = keys.get(key.device_id) ?? [];
      list.push(key);
      keys.set(key.device_id, list);
    }
    return d.rows.map((r) => deviceFromRow(r, keys.get(r.id) ?? []));
  }

  private auditStatement(a: AuditEntry): [Query, unknown[]] {
    return [
      'INSERT INTO audit_log (time, actor, action, device_id, reason, detail) VALUES ($1, $2, $3, $4, $5, $6)',
      [a.time, a.actor, a.action, a.deviceId, a.reason, a.detail ? JSON.stringify(a.detail) : null],
    ];
  }

  private keyStatement(deviceId: string, k: DeviceKey): [Query, unknown[]] {
    return [
      `INSERT INTO device_keys (device_id, kid, kind, hmac_key, aes_key, iv, status, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [deviceId, k.kid, k.kind, k.hmacKey, k.aesKey, k.iv, k.status, k.createdAt],
    ];
  }

  async createDevice(d: NewDevice, audit: AuditEntry): Promise<Device> {
    this.devices.delete(d.id);
    await this.transaction(
      [
        [
          REGISTER_DEVICE,
          [
            d.id,
            d.status,
            d.policy.allowUnsecured,
            d.policy.requireEncryption,
            replayModeToString(d.policy.replay),
            false,
            d.createdAt,
            d.replay.high,
            encodeSeen(d.replay.seen),
            d.policy.allowUnsecuredConfig ?? false,
            d.policy.requireV2 ?? false,
          ],
        ],
      ],
      async () => {
        // Before COMMIT: if the reset fails nothing is created; if the commit fails, the device
        // does not exist and the next create resets again.
        await this.replay.reset(d.id, d.replay);
        return {
          commit: true,
          last: [...d.keys.map((k) => this.keyStatement(d.id, k)), this.auditStatement(audit)],
          result: () => undefined,
        };
      },
    );
    return (await this.getDevice(d.id)) as Device;
  }

  /** A registry change under the device row's lock, with its audit entry, in one transaction. */
  private async mutate(
    id: string,
    audit: AuditEntry,
    change: () => Promise<[Query, unknown[]][]>,
  ): Promise<Device | undefined> {
    this.devices.delete(id);
    const found = await this.transaction<boolean>(
      [['SELECT 1 FROM devices WHERE id = $1 FOR NO KEY UPDATE', [id]]],
      async (_c, [locked]) => {
        if (locked.rowCount === 0) return { commit: false, value: false };
        return {
          commit: true,
          last: [
            ...(await change()),
            // Uploads decided on an older copy of this row fail their guard (upload-sql.ts).
            ['UPDATE devices SET registry_version = registry_version + 1 WHERE id = $1', [id]],
            this.auditStatement(audit),
          ],
          result: () => true,
        };
      },
    );
    // A cached copy taken by an upload that raced this change would carry the old version.
    this.devices.delete(id);
    return found ? this.getDevice(id) : undefined;
  }

  setDeviceStatus(id: string, status: DeviceStatus, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async () => [
      ['UPDATE devices SET status = $1 WHERE id = $2', [status, id]],
    ]);
  }

  setDevicePolicy(id: string, policy: DevicePolicy, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async () => [
      [
        `UPDATE devices SET allow_unsecured = $1, require_encryption = $2, replay_mode = $3,
           allow_unsecured_config = $4, require_v2 = $5 WHERE id = $6`,
        [
          policy.allowUnsecured,
          policy.requireEncryption,
          replayModeToString(policy.replay),
          policy.allowUnsecuredConfig ?? false,
          policy.requireV2 ?? false,
          id,
        ],
      ],
    ]);
  }

  addDeviceKey(id: string, key: DeviceKey, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async () => [this.keyStatement(id, key)]);
  }

  retireDeviceKey(id: string, kid: string, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async () => [
      [
        `UPDATE device_keys SET status = 'retired', retired_at = $1
         WHERE device_id = $2 AND kid = $3 AND status = 'active'`,
        [audit.time, id, kid],
      ],
    ]);
  }

  resetReplay(id: string, state: ReplayState, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async () => {
      await this.replay.reset(id, state);
      return [
        [
          'UPDATE devices SET replay_high = $1, replay_seen = $2 WHERE id = $3',
          [state.high, encodeSeen(state.seen), id],
        ],
      ];
    });
  }

  private inBackground(work: Promise<unknown>): void {
    const p = work.catch(() => undefined);
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  countReject(deviceId: string, code: string): void {
    this.inBackground(
      this.pool.query(
        `UPDATE devices SET rejects = jsonb_set(rejects, ARRAY[$2::text],
           to_jsonb(coalesce((rejects ->> $2::text)::bigint, 0) + 1)) WHERE id = $1`,
        [deviceId, code],
      ),
    );
  }

  countControl(deviceId: string, kind: string): void {
    this.inBackground(
      this.pool.query(
        `UPDATE devices SET control_counts = jsonb_set(control_counts, ARRAY[$2::text],
           to_jsonb(coalesce((control_counts ->> $2::text)::bigint, 0) + 1)) WHERE id = $1`,
        [deviceId, kind],
      ),
    );
  }

  recordSecurityEvent(e: SecurityEvent): void {
    // The outbox payload is the event with its stored id first, as the SQLite store writes it.
    const rest = JSON.stringify(eventJson(e)).slice(1);
    this.inBackground(
      this.pool.query(
        `WITH ev AS (
           INSERT INTO security_events (time, device_id, code, reason, source, nonce, request_id, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
         )
         INSERT INTO outbox (device_id, kind, ref_id, payload, created_at)
         SELECT $2, 'event', ev.id::text, '{"id":' || ev.id || ',' || $9::text, $1 FROM ev
         WHERE $10::boolean AND $2::text IS NOT NULL`,
        [
          e.time,
          e.deviceId,
          e.code,
          e.reason,
          e.source,
          e.nonce,
          e.requestId,
          e.detail ? JSON.stringify(e.detail) : null,
          rest,
          this.outbox,
        ],
      ),
    );
  }

  async listSecurityEvents(q: EventQuery): Promise<StoredSecurityEvent[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (column: string, op: string, v: string | number | undefined) => {
      if (v === undefined) return;
      args.push(v);
      where.push(`${column} ${op} $${args.length}`);
    };
    add('device_id', '=', q.deviceId);
    add('code', '=', q.code);
    add('time', '>=', q.since);
    add('id', '<', q.before);
    args.push(q.limit);
    const rows = await this.pool.query<EventRow>(
      `SELECT * FROM security_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.rows.map((r) => ({
      id: r.id,
      time: r.time,
      deviceId: r.device_id,
      code: r.code,
      reason: r.reason,
      source: r.source,
      nonce: r.nonce,
      requestId: r.request_id,
      ...(r.detail ? { detail: r.detail } : {}),
    }));
  }

  async listAudit(q: { deviceId?: string; limit: number }): Promise<StoredAuditEntry[]> {
    const rows =
      q.deviceId === undefined
        ? await this.pool.query<AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT $1', [q.limit])
        : await this.pool.query<AuditRow>(
            'SELECT * FROM audit_log WHERE device_id = $1 ORDER BY id DESC LIMIT $2',
            [q.deviceId, q.limit],
          );
    return rows.rows.map((r) => ({
      id: r.id,
      time: r.time,
      actor: r.actor,
      action: r.action,
      deviceId: r.device_id,
      reason: r.reason,
      ...(r.detail ? { detail: r.detail } : {}),
    }));
  }

  queryReadings(deviceId: string, q: ReadingQuery): Promise<ReadingPage> {
    return this.reads.queryReadings(deviceId, q);
  }

  latestReadings(deviceId: string): Promise<Reading[]> {
    return this.reads.latestReadings(deviceId);
  }

  getUpload(id: string): Promise<StoredUpload | undefined> {
    return this.reads.getUpload(id);
  }

  listUploads(deviceId: string, q: { limit: number; before?: string }): Promise<StoredUpload[]> {
    return this.reads.listUploads(deviceId, q);
  }

  async recordReport(report: DeviceReport, retention: ReportRetention): Promise<StoredDeviceReport> {
    const { rows } = await this.pool.query<{ id: number; known: boolean }>(
      `INSERT INTO device_reports (device_id, kind, received_at, source, verified, body)
       VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING id, EXISTS (SELECT 1 FROM devices WHERE id = $1) AS known`,
      [
        report.deviceId,
        report.kind,
        report.receivedAt,
        report.source,
        report.verified,
        JSON.stringify(report.body),
      ],
    );
    // Pruning after the insert committed: a failure here keeps one report too many, never loses one.
    await this.pool.query(
      `DELETE FROM device_reports WHERE device_id = $1 AND kind = $2 AND id <= (
         SELECT id FROM device_reports WHERE device_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)`,
      [report.deviceId, report.kind, retention.perDevice],
    );
    if (!rows[0].known) {
      await this.pool.query(
        `DELETE FROM device_reports WHERE kind = $1
           AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = device_reports.device_id)
           AND id <= (SELECT r.id FROM device_reports r WHERE r.kind = $1
             AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id)
             ORDER BY r.id DESC LIMIT 1 OFFSET $2)`,
        [report.kind, retention.unknownDevices],
      );
    }
    return { ...report, id: rows[0].id };
  }

  async listReports(deviceId: string, kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    const { rows } = await this.pool.query<ReportRow>(
      'SELECT * FROM device_reports WHERE device_id = $1 AND kind = $2 ORDER BY id DESC LIMIT $3',
      [deviceId, kind, limit],
    );
    return rows.map(reportFromRow);
  }

  async listUnknownDeviceReports(kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    const { rows } = await this.pool.query<ReportRow>(
      `SELECT * FROM device_reports r WHERE kind = $1
         AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id) ORDER BY id DESC LIMIT $2`,
      [kind, limit],
    );
    return rows.map(reportFromRow);
  }

  async pendingOutbox(limit: number, afterId = 0): Promise<OutboxRecord[]> {
    const c = await this.leader.acquire();
    if (!c) return [];
    const after = this.leader.takeFromStart() ? 0 : afterId;
    try {
      await c.query(STAMP_OUTBOX);
      const { rows } = await c.query<{
        id: number;
        device_id: string | null;
        kind: string;
        ref_id: string | null;
        payload: string | null;
        created_at: number;
      }>(PENDING_OUTBOX, [after, limit]);
      return rows.map((r) => ({
        id: r.id,
        deviceId: r.device_id,
        kind: r.kind as OutboxKind,
        refId: r.ref_id,
        payload: r.payload,
        createdAt: r.created_at,
      }));
    } catch (err) {
      this.leader.lost(c);
      throw err;
    }
  }

  async markPublished(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('DELETE FROM outbox WHERE seq = ANY($1::bigint[])', [ids]);
  }

  async outboxStats(): Promise<OutboxStats> {
    const { rows } = await this.pool.query<{ depth: number; oldest: number | null }>(
      'SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox',
    );
    return { depth: rows[0].depth, oldestCreatedAt: rows[0].oldest };
  }

  /** Whether this instance's relay currently owns the outbox. */
  get outboxOwner(): boolean {
    return this.leader.isLeader;
  }

  async uploadBlocks(uploadId: string): Promise<UploadBlocks | undefined> {
    if (!isId(uploadId)) return undefined;
    const [u, b] = await Promise.all([
      this.pool.query<{ device_id: string; received_at: number; nonce: number | null }>(
        'SELECT device_id, received_at, nonce FROM uploads WHERE id = $1',
        [Number(uploadId)],
      ),
      this.pool.query<BlockRow & { method: string | null }>(
        `SELECT b.*, p.method FROM blocks b JOIN packets p ON p.upload_id = b.upload_id AND p.idx = b.packet_idx
         WHERE b.upload_id = $1 ORDER BY b.packet_idx`,
        [Number(uploadId)],
      ),
    ]);
    const up = u.rows[0];
    if (!up) return undefined;
    return {
      uploadId: String(Number(uploadId)),
      deviceId: up.device_id,
      receivedAt: up.received_at,
      nonce: up.nonce,
      packets: b.rows.map((r) => ({ index: r.packet_idx, method: r.method, block: blockFromRow(r) })),
    };
  }

  /**
   * Deletes uploads received before `cutoff` with their packets, dedupe keys and readings, in
   * short transactions; one instance at a time (the others skip the run). Returns uploads deleted.
   */
  async pruneOlderThan(cutoff: number): Promise<number> {
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
             b AS (DELETE FROM blocks WHERE upload_id IN (SELECT id FROM u)),
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

  private scheduleRetention(days: number, intervalMs: number): void {
    const run = () => {
      this.retentionRun = this.pruneOlderThan(Date.now() - days * DAY_MS).catch(() => undefined);
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
