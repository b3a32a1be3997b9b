/**
 * Operators' pieces: scrypt passwords, API-key and session secrets, the sign-in throttle (per
 * account and per source, constant work for unknown names, security events), the credentials
 * check (API keys, the admin token and `off`, session expiry, revocation and CSRF) and the
 * fail-closed role check of a route without a declared role.
 */
import type { ServerResponse } from 'node:http';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlOperatorStore } from '../../../src/adapters/sql/operator-store.js';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { LiveHub } from '../../../src/dashboard/live-hub.js';
import { requireAccess, role } from '../../../src/http/admin/admin-auth.js';
import { addSharedSchemas } from '../../../src/http/api-schemas.js';
import { registerErrorHandling } from '../../../src/http/error-handler.js';
import { registerRequestValidation } from '../../../src/http/request-validation.js';
import { ApiError } from '../../../src/model/errors.js';
import { lockedUntil, roleAllows } from '../../../src/model/operator.js';
import { OperatorAccess, readCookie } from '../../../src/operators/operator-access.js';
import { OperatorService } from '../../../src/operators/operator-service.js';
import { createOperators } from '../../../src/operators/operators-module.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../../../src/operators/password.js';
import { apiKeyPrefix, csrfTokenOf, newApiKey, sha256 } from '../../../src/operators/secrets.js';
import { FAILURE_FLOOR_MS, SignIn } from '../../../src/operators/sign-in.js';
import type { SecurityEvent } from '../../../src/ports/storage.js';

const POLICY = { maxFailures: 3, lockMs: 60_000, maxLockMs: 3_600_000 };
const SESSIONS = { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000 };

describe('passwords', () => {
  it('hashes with scrypt and a fresh salt, verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('anything', DUMMY_HASH)).toBe(false);
    expect(await verifyPassword('anything', 'md5$abc')).toBe(false);
    expect(await verifyPassword('anything', 'scrypt$40$8$1$AAAA$AAAA')).toBe(false);
  });
});

describe('secrets and roles', () => {
  it('makes API keys with a visible prefix and keeps only their hash', () => {
    const k = newApiKey();
    expect(k.key).toMatch(/^ew_[A-Za-z0-9]{8}_[\w-]{43}$/);
    expect(apiKeyPrefix(k.key)).toBe(k.prefix);
    expect(k.hash).toBe(sha256(k.key));
    expect(apiKeyPrefix('not-a-key')).toBeNull();
    expect(csrfTokenOf('a')).not.toBe(csrfTokenOf('b'));
  });

  it('orders the roles and doubles locks up to the longest', () => {
    expect(roleAllows('admin', 'viewer')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
    expect(lockedUntil(2, 0, POLICY)).toBeNull();
    expect(lockedUntil(3, 0, POLICY)).toBe(60_000);
    expect(lockedUntil(5, 0, POLICY)).toBe(240_000);
    expect(lockedUntil(50, 0, POLICY)).toBe(3_600_000);
  });

  it('reads one cookie among several', () => {
    expect(readCookie('a=1; ecowatt_session=xyz; b=2', 'ecowatt_session')).toBe('xyz');
    expect(readCookie('ecowatt_session=', 'ecowatt_session')).toBeNull();
    expect(readCookie(undefined, 'ecowatt_session')).toBeNull();
  });
});

describe('sign-in and credentials', () => {
  let storage: SqliteStorage;
  let store: SqlOperatorStore;
  let service: OperatorService;
  let events: SecurityEvent[];
  let now: number;
  let signIn: SignIn;
  let access: OperatorAccess;
  const clock = () => now;

  beforeEach(async () => {
    storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
    store = new SqlOperatorStore(storage.sql, storage.writer.writes.operators);
    now = 1_760_000_000_000;
    service = new OperatorService(store, clock);
    events = [];
    signIn = new SignIn(store, { record: (e) => events.push(e) }, POLICY, SESSIONS, clock);
    access = new OperatorAccess(store, 'the-admin-token-0123456789', SESSIONS, clock);
    await service.add({ name: 'alice', role: 'operator', password: 'correct horse battery' }, 'token');
    await service.add({ name: 'root', role: 'admin', password: 'another good one' }, 'token');
  });

  afterEach(async () => {
    await storage.close();
  });

  const failure = async (p: Promise<unknown>): Promise<ApiError> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  };

  it('validates accounts: names, roles, password length, duplicates, the last admin', async () => {
    expect(
      (await failure(service.add({ name: 'bad name', role: 'viewer', password: 'x'.repeat(12) }, 't')))
        .details,
    ).toEqual({
      field: 'name',
    });
    expect(
      (await failure(service.add({ name: 'bob', role: 'root', password: 'x'.repeat(12) }, 't'))).details,
    ).toEqual({
      field: 'role',
    });
    expect(
      (await failure(service.add({ name: 'bob', role: 'viewer', password: 'short' }, 't'))).details,
    ).toEqual({
      field: 'password',
    });
    expect(
      (await failure(service.add({ name: 'alice', role: 'viewer', password: 'x'.repeat(12) }, 't'))).code,
    ).toBe('conflict');
    expect((await failure(service.setEnabled('root', false, 't'))).code).toBe('conflict');
    expect((await failure(service.setRole('root', 'viewer', 't'))).code).toBe('conflict');
    expect((await failure(service.setPassword('nobody', 'x'.repeat(12), 't'))).code).toBe('not_found');
    expect(
      (await failure(service.createKey({ name: 'k', role: 'viewer', expiresDays: 0 }, 't'))).details,
    ).toEqual({
      field: 'expires_days',
    });
  });

  it('signs in, and the cookie names the account with its current role', async () => {
    const s = await signIn.signIn('alice', 'correct horse battery', '10.0.0.1', 'r1');
    const cookie = `ecowatt_session=${s.sessionId}`;
    expect(await access.identify({ headers: { cookie }, method: 'GET' })).toEqual({
      kind: 'user',
      name: 'alice',
      role: 'operator',
    });
    await service.setRole('alice', 'viewer', 'token');
    expect((await access.identify({ headers: { cookie }, method: 'GET' }))?.role).toBe('viewer');
    expect((await store.getOperator('alice'))?.lastSignInAt).toBe(now);
    // Only the hash of the session id is stored.
    expect(await store.getSession(s.sessionId)).toBeNull();
    expect(await store.getSession(sha256(s.sessionId))).not.toBeNull();
  });

  it('needs the CSRF token (and this server as Origin) for a change made with the cookie', async () => {
    const s = await signIn.signIn('alice', 'correct horse battery', '10.0.0.1', 'r1');
    const cookie = `ecowatt_session=${s.sessionId}`;
    const headers = { cookie, host: 'ecowatt.local:5001' };
    expect((await failure(access.identify({ headers, method: 'POST' }))).code).toBe('csrf_failed');
    expect(
      (await failure(access.identify({ headers: { ...headers, 'x-csrf-token': 'nope' }, method: 'PUT' })))
        .code,
    ).toBe('csrf_failed');
    const csrf = csrfTokenOf(s.sessionId);
    expect(
      await access.identify({ headers: { ...headers, 'x-csrf-token': csrf }, method: 'DELETE' }),
    ).not.toBeNull();
    expect(
      (
        await failure(
          access.identify({
            headers: { ...headers, 'x-csrf-token': csrf, origin: 'https://evil.example' },
            method: 'POST',
          }),
        )
      ).code,
    ).toBe('csrf_failed');
    expect(
      await access.identify({
        headers: { ...headers, 'x-csrf-token': csrf, origin: 'http://ecowatt.local:5001' },
        method: 'POST',
      }),
    ).not.toBeNull();
  });

  it('ends sessions: idle, absolute expiry, sign-out, disabled account, new password', async () => {
    const open = async () =>
      `ecowatt_session=${(await signIn.signIn('alice', 'correct horse battery', 'a', 'r')).sessionId}`;
    const ok = (cookie: string) => access.identify({ headers: { cookie }, method: 'GET' });
    const ended = async (cookie: string) =>
      expect((await failure(ok(cookie))).message).toBe('Your session has ended: sign in again.');

    let c = await open();
    now += SESSIONS.idleMs - 1000;
    expect(await ok(c)).not.toBeNull(); // activity: idle expiry counts from here
    await storage.writer.drain();
    now += SESSIONS.idleMs - 1000;
    expect(await ok(c)).not.toBeNull();
    await storage.writer.drain();
    now += SESSIONS.idleMs + 1;
    await ended(c);

    c = await open();
    for (let t = 0; t < SESSIONS.maxMs; t += 20 * 60_000) {
      now += 20 * 60_000;
      if (t + 20 * 60_000 < SESSIONS.maxMs) {
        await ok(c);
        await storage.writer.drain();
      }
    }
    await ended(c);

    c = await open();
    await store.deleteSession(sha256(readCookie(c, 'ecowatt_session') as string));
    await ended(c);

    c = await open();
    await service.setEnabled('alice', false, 'token');
    await ended(c);
    await service.setEnabled('alice', true, 'token');

    c = await open();
    now += 1;
    await service.setPassword('alice', 'a brand new secret', 'token');
    await ended(c);
  });

  it('locks an account after repeated failures, says when to retry, and records security events', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await failure(signIn.signIn('alice', 'wrong password', `10.0.0.${i}`, `r${i}`))).code).toBe(
        'sign_in_failed',
      );
    }
    // Locked now, even with the right password and from another address.
    const locked = await failure(signIn.signIn('alice', 'correct horse battery', '10.9.9.9', 'r9'));
    expect(locked.code).toBe('sign_in_locked');
    expect(locked.retryAfterSeconds).toBe(60);
    expect(locked.details).toEqual({ retry_at: new Date(now + 60_000).toISOString() });
    expect(locked.message).toContain(new Date(now + 60_000).toISOString());
    expect(events.map((e) => [e.code, e.reason])).toEqual([
      ['sign_in_failed', 'wrong_password'],
      ['sign_in_failed', 'wrong_password'],
      ['sign_in_failed', 'wrong_password'],
      ['sign_in_locked', 'account'],
      ['sign_in_refused', 'locked'],
    ]);
    expect(events[0]).toMatchObject({
      deviceId: null,
      source: '10.0.0.0',
      detail: { name: 'alice', failures: 1 },
    });
    expect(JSON.stringify(events)).not.toContain('wrong password');
    now += 60_001;
    expect((await signIn.signIn('alice', 'correct horse battery', '10.9.9.9', 'r10')).operator.name).toBe(
      'alice',
    );
  });

  it('slows a source address trying many names, unknown ones included, with the same work per try', async () => {
    const times: number[] = [];
    for (const name of ['nobody', 'alice', 'ghost']) {
      const t0 = performance.now();
      await failure(signIn.signIn(name, 'wrong password', '192.0.2.7', 'r'));
      times.push(performance.now() - t0);
    }
    // Each failure ran scrypt (an unknown name against a dummy hash) and was answered no sooner
    // than the floor: none is a quick "no such user".
    const fastest = Math.min(...times);
    const slowest = Math.max(...times);
    expect(fastest).toBeGreaterThanOrEqual(FAILURE_FLOOR_MS - 5);
    expect(fastest).toBeGreaterThan(slowest / 2);
    const locked = await failure(signIn.signIn('root', 'another good one', '192.0.2.7', 'r'));
    expect(locked.code).toBe('sign_in_locked');
    expect((await signIn.signIn('root', 'another good one', '192.0.2.8', 'r')).operator.role).toBe('admin');
    expect(events.filter((e) => e.code === 'sign_in_failed').map((e) => e.reason)).toEqual([
      'unknown_account',
      'wrong_password',
      'unknown_account',
    ]);
  });

  it('refuses a disabled account like a wrong password', async () => {
    await service.setEnabled('alice', false, 'token');
    const err = await failure(signIn.signIn('alice', 'correct horse battery', '10.0.0.1', 'r'));
    expect(err.code).toBe('sign_in_failed');
    expect(events.at(-1)?.reason).toBe('account_disabled');
  });

  it('takes API keys until they are revoked or expire, and the admin token unless it is off', async () => {
    const { key } = await service.createKey({ name: 'ci', role: 'operator', expiresDays: 1 }, 'token');
    const bearer = (k: string) =>
      access.identify({ headers: { authorization: `Bearer ${k}` }, method: 'POST' });
    expect(await bearer(key)).toEqual({ kind: 'apikey', name: 'ci', role: 'operator' });
    await storage.writer.drain();
    expect((await store.listApiKeys())[0].lastUsedAt).toBe(now);
    now += 86_400_000;
    expect((await failure(bearer(key))).message).toBe('This API key has expired.');
    expect(await bearer('the-admin-token-0123456789')).toEqual({
      kind: 'token',
      name: 'token',
      role: 'admin',
    });
    const off = new OperatorAccess(store, null, SESSIONS, clock);
    expect(
      (
        await failure(
          off.identify({ headers: { authorization: 'Bearer the-admin-token-0123456789' }, method: 'GET' }),
        )
      ).code,
    ).toBe('unauthorized');
    expect(await off.identify({ headers: {}, method: 'GET' })).toBeNull();
  });
});

describe('route roles', () => {
  it('refuses every request to a route that declares no role, even an admin one', async () => {
    const app = Fastify();
    registerErrorHandling(app);
    const admin = {
      identify: async () => ({ kind: 'token' as const, name: 'token' as const, role: 'admin' as const }),
    };
    await app.register(async (api) => {
      requireAccess(api, admin);
      api.get('/declared', role('viewer'), async () => ({ ok: true }));
      api.get('/forgotten', async () => ({ ok: true }));
    });
    expect((await app.inject({ method: 'GET', url: '/declared' })).statusCode).toBe(200);
    const res = await app.inject({ method: 'GET', url: '/forgotten' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'forbidden' });
    await app.close();
  });
});

describe('live stream', () => {
  it('closes a stream at the heartbeat after its credentials stop holding', async () => {
    const hub = new LiveHub({ heartbeatMs: 10 });
    let ended = 0;
    const res = {
      writeHead: () => undefined,
      write: () => true,
      on: () => undefined,
      writableLength: 0,
      end: () => {
        ended++;
      },
      destroy: () => undefined,
    } as unknown as ServerResponse;
    let allowed = true;
    hub.attach(res, {}, async () => allowed);
    await new Promise((r) => setTimeout(r, 40));
    expect(ended).toBe(0);
    allowed = false;
    await new Promise((r) => setTimeout(r, 40));
    expect(ended).toBeGreaterThan(0);
    hub.close();
  });
});

describe('the session cookie', () => {
  it('is Secure when the dashboard is reached over HTTPS, httpOnly and SameSite=Strict always', async () => {
    const storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
    const app = Fastify({ trustProxy: true });
    registerErrorHandling(app);
    // As http-server.ts sets up every app: the routes' schemas name the shared error answer.
    addSharedSchemas(app);
    registerRequestValidation(app);
    const operators = createOperators(
      { sessionIdleMinutes: 30, sessionMaxHours: 12, signInMaxFailures: 5, signInLockSeconds: 60 },
      {
        store: new SqlOperatorStore(storage.sql, storage.writer.writes.operators),
        events: { record: () => undefined },
        adminToken: null,
      },
    );
    await operators.register(app);
    await operators.service.add({ name: 'tls-user', role: 'viewer', password: 'a long password' }, 'cli');
    const signIn = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/api/session',
        headers,
        payload: { name: 'tls-user', password: 'a long password' },
      });
    const plain = await signIn({});
    expect(plain.statusCode).toBe(204);
    expect(plain.headers['set-cookie']).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const tls = await signIn({ 'x-forwarded-proto': 'https' });
    expect(tls.headers['set-cookie']).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
    expect(tls.headers['cache-control']).toBe('no-store');
    await app.close();
    await storage.close();
  });
});
