/**
 * Outbox ownership with several instances: ONE relay owns the whole outbox at a time. The owner is
 * the instance holding a session advisory lock (`pg_try_advisory_lock`, per schema) on a dedicated
 * connection; `pendingOutbox` answers the others with nothing, so their relays stay idle and
 * nothing is published once per instance. When the owner stops or dies its session ends, the lock
 * is free, and the next instance to poll takes over (within its relay's poll interval).
 *
 * Why `seq` and not `id`: `id` is taken at insert, but concurrent transactions commit in another
 * order, so a relay reading "after id N" could pass a lower id that commits later and never
 * publish it. The owner therefore stamps committed records with `seq` from a sequence, in id
 * order, on its own connection (only one stamper); a record committed later always gets a higher
 * `seq`. A device's records keep their order: its uploads are serialised by its row lock, so a
 * later one is inserted (higher id) only after the earlier one committed. Records are published
 * in `seq` order, and `OutboxRecord.id` is the `seq`.
 *
 * Handover: the new owner reads from the oldest unpublished record (`fromStart`), so records the
 * old owner had dispatched but not marked are published again: at least once, as MQTT QoS 1
 * already allows; consumers drop repeats by `message_id`.
 *
 * An owner whose relay stops reading (its broker unreachable from this instance, or nothing
 * acknowledged for long) gives ownership up after IDLE_RELEASE_MS, so an instance that can
 * publish takes over instead of the outbox stalling behind it.
 */
import type pg from 'pg';
import { createClient, lockKeys } from './pool.js';

const RETRY_MS = 1000;
const IDLE_RELEASE_MS = 15_000;

export class OutboxLeader {
  private client: pg.Client | undefined;
  private leading = false;
  private fromStart = false;
  private nextAttempt = 0;
  private closed = false;
  private lastRead = 0;
  private readonly idleCheck: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly idleReleaseMs = IDLE_RELEASE_MS,
  ) {
    this.idleCheck = setInterval(() => void this.releaseIfIdle(), idleReleaseMs / 3);
    this.idleCheck.unref();
  }

  private async releaseIfIdle(): Promise<void> {
    const client = this.client;
    if (!this.leading || !client || Date.now() - this.lastRead < this.idleReleaseMs) return;
    this.leading = false;
    // Give the others a head start before this instance tries again.
    this.nextAttempt = Date.now() + this.idleReleaseMs;
    await client.query(`SELECT pg_advisory_unlock(${lockKeys('relay')})`).catch(() => this.lost(client));
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The owner's connection, or `undefined` while another instance owns the outbox. */
  async acquire(): Promise<pg.Client | undefined> {
    if (this.closed) return undefined;
    if (this.leading && this.client) {
      this.lastRead = Date.now();
      return this.client;
    }
    // Followers poll whenever their relay is notified: try the lock at most once per second.
    const now = Date.now();
    if (now < this.nextAttempt) return undefined;
    this.nextAttempt = now + RETRY_MS;
    try {
      if (!this.client) {
        const client = createClient(this.url);
        client.on('error', () => this.lost(client));
        client.on('end', () => this.lost(client));
        await client.connect();
        this.client = client;
      }
      const r = await this.client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(${lockKeys('relay')}) AS ok`,
      );
      if (!r.rows[0].ok) return undefined;
      this.leading = true;
      this.fromStart = true;
      this.lastRead = Date.now();
      return this.client;
    } catch (err) {
      if (this.client) this.lost(this.client);
      throw err;
    }
  }

  /** True once after ownership was (re)gained: the next read starts at the oldest record. */
  takeFromStart(): boolean {
    const v = this.fromStart;
    this.fromStart = false;
    return v;
  }

  /** A query on the owner's connection failed: the session (and so the lock) may be gone. */
  lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.leading = false;
    this.client = undefined;
    client.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleCheck);
    const client = this.client;
    this.client = undefined;
    this.leading = false;
    // Ending the session releases the lock; another instance takes over on its next poll.
    await client?.end().catch(() => undefined);
  }
}

/** Stamps committed, unstamped records with `seq` in id order (the owner only). */
export const STAMP_OUTBOX = `UPDATE outbox o SET seq = s.seq
  FROM (SELECT id, nextval('outbox_seq') AS seq
        FROM (SELECT id FROM outbox WHERE seq IS NULL ORDER BY id LIMIT 10000) AS pending) AS s
  WHERE o.id = s.id`;
