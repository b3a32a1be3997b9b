/**
 * The behaviour every OperatorStore adapter must have, as the operators capability relies on it:
 * accounts (unique names, audited changes, a new password or a disabled account ending the
 * account's sessions, the failed-sign-in count and lock), sessions (expiry sweep, activity) and
 * API keys (unique names and prefixes, revocation once, last use). Each adapter's test file calls
 * `operatorStoreContract` with a factory for a fresh, empty store and the Storage of the same
 * database (for the audit log).
 */
import { describe, expect, it } from 'vitest';
import type { LockPolicy } from '../../src/model/operator.js';
import type { OperatorStore } from '../../src/ports/operator-store.js';
import type { Storage } from '../../src/ports/storage.js';

export interface OpenedOperatorStore {
  store: OperatorStore;
  storage: Pick<Storage, 'listAudit'>;
  close(): Promise<void>;
}

/** Times as the server writes them (ms since the epoch, far beyond 32 bits). */
const T0 = 1_760_000_000_000;
const POLICY: LockPolicy = { maxFailures: 3, lockMs: 60_000, maxLockMs: 3_600_000 };
const HASH = 'scrypt$15$8$1$c2FsdA$aGFzaA';

export function operatorStoreContract(name: string, open: () => Promise<OpenedOperatorStore>): void {
  describe(`OperatorStore contract: ${name}`, () => {
    const withStore = (fn: (s: OpenedOperatorStore) => Promise<void>) => async () => {
      const opened = await open();
      try {
        await fn(opened);
      } finally {
        await opened.close();
      }
    };

    it(
      'adds accounts once, lists them without hashes, counts enabled admins, audits each change',
      withStore(async ({ store, storage }) => {
        const alice = await store.addOperator({
          name: 'alice',
          role: 'admin',
          passwordHash: HASH,
          time: T0,
          actor: 'token',
        });
        expect(alice).toMatchObject({
          name: 'alice',
          role: 'admin',
          enabled: true,
          createdAt: T0,
          lastSignInAt: null,
        });
        expect(alice).not.toHaveProperty('passwordHash');
        expect(
          await store.addOperator({
            name: 'alice',
            role: 'viewer',
            passwordHash: HASH,
            time: T0,
            actor: 'token',
          }),
        ).toBeNull();
        await store.addOperator({
          name: 'bob',
          role: 'viewer',
          passwordHash: HASH,
          time: T0 + 1,
          actor: 'user:alice',
        });
        expect((await store.listOperators()).map((o) => [o.name, o.role])).toEqual([
          ['alice', 'admin'],
          ['bob', 'viewer'],
        ]);
        expect((await store.listOperators())[0]).not.toHaveProperty('passwordHash');
        expect((await store.getOperator('alice'))?.passwordHash).toBe(HASH);
        expect(await store.getOperator('nobody')).toBeNull();
        expect(await store.countAdmins()).toBe(1);

        expect(await store.setRole({ name: 'bob', time: T0 + 2, actor: 'user:alice' }, 'admin')).toBe(true);
        expect(await store.countAdmins()).toBe(2);
        expect(await store.setEnabled({ name: 'bob', time: T0 + 3, actor: 'user:alice' }, false)).toBe(true);
        expect(await store.countAdmins()).toBe(1);
        expect(await store.setEnabled({ name: 'nobody', time: T0 + 3, actor: 'user:alice' }, false)).toBe(
          false,
        );
        expect(await store.setRole({ name: 'nobody', time: T0 + 3, actor: 'user:alice' }, 'viewer')).toBe(
          false,
        );
        expect(await store.setPassword({ name: 'nobody', time: T0 + 3, actor: 'user:alice' }, HASH)).toBe(
          false,
        );

        const audit = await storage.listAudit({ limit: 10 });
        expect(audit.map((a) => [a.actor, a.action])).toEqual([
          ['user:alice', 'user.disabled'],
          ['user:alice', 'user.role_changed'],
          ['user:alice', 'user.added'],
          ['token', 'user.added'],
        ]);
        expect(audit[3].detail).toEqual({ name: 'alice', role: 'admin' });
        expect(JSON.stringify(audit)).not.toContain(HASH);
      }),
    );

    it(
      'ends the sessions of an account whose password changes or which is disabled',
      withStore(async ({ store }) => {
        await store.addOperator({
          name: 'carol',
          role: 'operator',
          passwordHash: HASH,
          time: T0,
          actor: 'token',
        });
        await store.createSession({
          idHash: 'a'.repeat(64),
          name: 'carol',
          createdAt: T0,
          expiresAt: T0 + 1000,
        });
        await store.createSession({
          idHash: 'b'.repeat(64),
          name: 'carol',
          createdAt: T0,
          expiresAt: T0 + 1000,
        });
        expect(await store.getSession('a'.repeat(64))).toEqual({
          idHash: 'a'.repeat(64),
          name: 'carol',
          createdAt: T0,
          lastSeenAt: T0,
          expiresAt: T0 + 1000,
        });
        await store.touchSession('a'.repeat(64), T0 + 10);
        await store.touchSession('a'.repeat(64), T0 + 5); // older activity never goes back in time
        expect((await store.getSession('a'.repeat(64)))?.lastSeenAt).toBe(T0 + 10);

        expect(await store.setPassword({ name: 'carol', time: T0 + 20, actor: 'token' }, 'scrypt$new')).toBe(
          true,
        );
        expect(await store.getSession('a'.repeat(64))).toBeNull();
        expect(await store.getSession('b'.repeat(64))).toBeNull();
        const carol = await store.getOperator('carol');
        expect(carol).toMatchObject({ passwordHash: 'scrypt$new', passwordChangedAt: T0 + 20 });

        await store.createSession({
          idHash: 'c'.repeat(64),
          name: 'carol',
          createdAt: T0 + 30,
          expiresAt: T0 + 1000,
        });
        await store.setEnabled({ name: 'carol', time: T0 + 40, actor: 'token' }, false);
        expect(await store.getSession('c'.repeat(64))).toBeNull();

        await store.deleteSession('c'.repeat(64)); // gone already: nothing to do
      }),
    );

    it(
      'sweeps sessions past their absolute or idle expiry, and deletes one on sign-out',
      withStore(async ({ store }) => {
        await store.addOperator({
          name: 'dave',
          role: 'viewer',
          passwordHash: HASH,
          time: T0,
          actor: 'token',
        });
        await store.createSession({
          idHash: '1'.repeat(64),
          name: 'dave',
          createdAt: T0,
          expiresAt: T0 + 100,
        });
        await store.createSession({
          idHash: '2'.repeat(64),
          name: 'dave',
          createdAt: T0,
          expiresAt: T0 + 10_000,
        });
        await store.createSession({
          idHash: '3'.repeat(64),
          name: 'dave',
          createdAt: T0,
          expiresAt: T0 + 10_000,
        });
        await store.touchSession('3'.repeat(64), T0 + 900);
        // At T0 + 1000 with a 500 ms idle limit: 1 has expired, 2 has been idle too long, 3 lives.
        expect(await store.deleteExpiredSessions(T0 + 1000, 500)).toBe(2);
        expect(await store.getSession('3'.repeat(64))).not.toBeNull();
        await store.deleteSession('3'.repeat(64));
        expect(await store.getSession('3'.repeat(64))).toBeNull();
      }),
    );

    it(
      'counts failed sign-ins, locks for doubling spans, and a good sign-in clears them',
      withStore(async ({ store }) => {
        await store.addOperator({
          name: 'erin',
          role: 'viewer',
          passwordHash: HASH,
          time: T0,
          actor: 'token',
        });
        expect(await store.recordSignInFailure('erin', T0, POLICY)).toEqual({
          failures: 1,
          lockedUntil: null,
        });
        expect(await store.recordSignInFailure('erin', T0, POLICY)).toEqual({
          failures: 2,
          lockedUntil: null,
        });
        expect(await store.recordSignInFailure('erin', T0, POLICY)).toEqual({
          failures: 3,
          lockedUntil: T0 + 60_000,
        });
        expect(await store.recordSignInFailure('erin', T0, POLICY)).toEqual({
          failures: 4,
          lockedUntil: T0 + 120_000,
        });
        expect(await store.getOperator('erin')).toMatchObject({
          failedSignIns: 4,
          lockedUntil: T0 + 120_000,
        });
        expect(await store.recordSignInFailure('nobody', T0, POLICY)).toEqual({
          failures: 0,
          lockedUntil: null,
        });
        await store.recordSignIn('erin', T0 + 200_000);
        expect(await store.getOperator('erin')).toMatchObject({
          failedSignIns: 0,
          lockedUntil: null,
          lastSignInAt: T0 + 200_000,
        });
      }),
    );

    it(
      'keeps API keys by name and prefix, revokes once, records last use, audits without secrets',
      withStore(async ({ store, storage }) => {
        const key = {
          name: 'ci',
          role: 'operator' as const,
          prefix: 'AbCd1234',
          hash: 'f'.repeat(64),
          expiresAt: T0 + 86_400_000,
          time: T0,
          actor: 'user:alice',
        };
        const created = await store.addApiKey(key);
        expect(created).toEqual({
          name: 'ci',
          role: 'operator',
          prefix: 'AbCd1234',
          createdAt: T0,
          createdBy: 'user:alice',
          expiresAt: T0 + 86_400_000,
          lastUsedAt: null,
          revokedAt: null,
        });
        expect(await store.addApiKey({ ...key, prefix: 'Other123' })).toBeNull(); // the name is taken
        expect(await store.addApiKey({ ...key, name: 'ci-2' })).toBeNull(); // the prefix is taken
        expect((await store.findApiKey('AbCd1234'))?.hash).toBe('f'.repeat(64));
        expect(await store.findApiKey('Zzzzzzzz')).toBeNull();

        await store.touchApiKey('AbCd1234', T0 + 5);
        expect((await store.listApiKeys())[0]).toMatchObject({ name: 'ci', lastUsedAt: T0 + 5 });
        expect((await store.listApiKeys())[0]).not.toHaveProperty('hash');

        expect(await store.revokeApiKey({ name: 'ci', time: T0 + 9, actor: 'token' })).toBe(true);
        expect(await store.revokeApiKey({ name: 'ci', time: T0 + 10, actor: 'token' })).toBe(false);
        expect(await store.revokeApiKey({ name: 'nope', time: T0 + 10, actor: 'token' })).toBe(false);
        expect((await store.findApiKey('AbCd1234'))?.revokedAt).toBe(T0 + 9);

        const audit = await storage.listAudit({ limit: 10 });
        expect(audit.map((a) => [a.actor, a.action])).toEqual([
          ['token', 'apikey.revoked'],
          ['user:alice', 'apikey.created'],
        ]);
        expect(JSON.stringify(audit)).not.toContain('f'.repeat(64));
      }),
    );
  });
}
