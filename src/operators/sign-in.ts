/**
 * Dashboard sign-in with name and password, and its sessions. Failed sign-ins take as long as
 * good ones (the password is always checked with scrypt, against a dummy hash for unknown names),
 * are slowed per account (stored with the account, so every instance sees them) and per source
 * address (in this process), and are recorded as security events. A locked account or address is
 * told when to retry (429 `sign_in_locked`, `Retry-After`).
 */
import { ApiError } from '../model/errors.js';
import { type LockPolicy, lockedUntil, type Operator } from '../model/operator.js';
import type { OperatorStore } from '../ports/operator-store.js';
import type { SecurityEvent } from '../ports/storage.js';
import { DUMMY_HASH, verifyPassword } from './password.js';
import { newSessionId, sha256 } from './secrets.js';

/**
 * A failed sign-in is answered no sooner than this after it arrived, so what differs between the
 * kinds of failure (an account's failure count is written, an unknown name's is not) cannot be
 * timed either; scrypt alone takes most of it.
 */
export const FAILURE_FLOOR_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SessionPolicy {
  idleMs: number;
  maxMs: number;
}

interface Failures {
  failures: number;
  lockedUntil: number | null;
  at: number;
}

/** Failure counts kept in this process (source addresses, names without an account). */
class FailureTable {
  private readonly entries = new Map<string, Failures>();

  constructor(
    private readonly policy: LockPolicy,
    private readonly maxKeys = 10_000,
  ) {}

  lockedUntil(key: string, now: number): number | null {
    const e = this.entries.get(key);
    return e?.lockedUntil !== null && e?.lockedUntil !== undefined && e.lockedUntil > now
      ? e.lockedUntil
      : null;
  }

  fail(key: string, now: number): Failures {
    let e = this.entries.get(key);
    // A quiet hour forgives earlier failures.
    if (!e || now - e.at > 3_600_000) e = { failures: 0, lockedUntil: null, at: now };
    e.failures++;
    e.at = now;
    e.lockedUntil = lockedUntil(e.failures, now, this.policy);
    if (!this.entries.has(key) && this.entries.size >= this.maxKeys) this.prune(now);
    this.entries.set(key, e);
    return e;
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (now - e.at > 3_600_000) this.entries.delete(k);
    if (this.entries.size >= this.maxKeys) this.entries.clear();
  }
}

export interface SignedIn {
  sessionId: string;
  expiresAt: number;
  operator: Operator;
}

export class SignIn {
  private readonly sources: FailureTable;
  private readonly unknownNames: FailureTable;
  private lastCleanup = 0;

  constructor(
    private readonly store: OperatorStore,
    private readonly events: { record(e: SecurityEvent): void },
    private readonly policy: LockPolicy,
    readonly sessions: SessionPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.sources = new FailureTable(policy);
    this.unknownNames = new FailureTable(policy);
  }

  async signIn(name: string, password: string, source: string, requestId: string): Promise<SignedIn> {
    return this.openSession(await this.verify(name, password, source, requestId));
  }

  /**
   * Checks a name and password as a sign-in does (locks, the failure floor, security events) and
   * answers the account when they hold; its failure count is cleared and the time recorded.
   */
  async verify(name: string, password: string, source: string, requestId: string): Promise<Operator> {
    const started = performance.now();
    const now = this.now();
    const event = (code: string, reason: string, detail: Record<string, unknown>) =>
      this.events.record({
        time: now,
        deviceId: null,
        code,
        reason,
        source,
        nonce: null,
        requestId,
        detail: { name, ...detail },
      });
    const op = await this.store.getOperator(name);
    const accountLock = op
      ? op.lockedUntil !== null && op.lockedUntil > now
        ? op.lockedUntil
        : null
      : this.unknownNames.lockedUntil(name, now);
    const lock = Math.max(accountLock ?? 0, this.sources.lockedUntil(source, now) ?? 0);
    if (lock > now) {
      event('sign_in_refused', 'locked', { retry_at: new Date(lock).toISOString() });
      throw locked(lock, now);
    }
    // Always one scrypt: an unknown name or a disabled account costs what a wrong password costs.
    const good = await verifyPassword(password, op?.passwordHash ?? DUMMY_HASH);
    if (op?.enabled && good) {
      this.sources.clear(source);
      await this.store.recordSignIn(op.name, now);
      const { passwordHash: _, ...operator } = op;
      return { ...operator, lastSignInAt: now, failedSignIns: 0, lockedUntil: null };
    }
    const reason = !op ? 'unknown_account' : !good ? 'wrong_password' : 'account_disabled';
    const bySource = this.sources.fail(source, now);
    const byAccount = op
      ? await this.store.recordSignInFailure(op.name, now, this.policy)
      : this.unknownNames.fail(name, now);
    event('sign_in_failed', reason, { failures: byAccount.failures });
    const until = Math.max(bySource.lockedUntil ?? 0, byAccount.lockedUntil ?? 0);
    if (until > now) {
      event('sign_in_locked', bySource.lockedUntil === until ? 'source' : 'account', {
        retry_at: new Date(until).toISOString(),
      });
    }
    await sleep(started + FAILURE_FLOOR_MS - performance.now());
    throw new ApiError('sign_in_failed');
  }

  /** A new session of an account whose credentials were just checked. */
  async openSession(operator: Operator): Promise<SignedIn> {
    const now = this.now();
    const sessionId = newSessionId();
    const expiresAt = now + this.sessions.maxMs;
    await this.store.createSession({
      idHash: sha256(sessionId),
      name: operator.name,
      createdAt: now,
      expiresAt,
    });
    void this.cleanup(now);
    return { sessionId, expiresAt, operator };
  }

  /** Drops expired sessions now and then (each check of a session also refuses an expired one). */
  private async cleanup(now: number): Promise<void> {
    if (now - this.lastCleanup < 600_000) return;
    this.lastCleanup = now;
    await this.store.deleteExpiredSessions(now, this.sessions.idleMs).catch(() => undefined);
  }
}

function locked(until: number, now: number): ApiError {
  const seconds = Math.max(1, Math.ceil((until - now) / 1000));
  return new ApiError(
    'sign_in_locked',
    `Too many failed sign-ins: try again after ${new Date(until).toISOString()} (in ${seconds} s).`,
    { retryAfterSeconds: seconds, details: { retry_at: new Date(until).toISOString() } },
  );
}
