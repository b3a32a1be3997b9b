/**
 * The admin API's credentials (the `AdminAccess` every capability's routes are given):
 * - `Authorization: Bearer ew_…`: an API key (found by its visible prefix, its SHA-256 compared in
 *   constant time; refused once revoked or expired);
 * - `Authorization: Bearer <admin token>`: the break-glass admin credential, unless
 *   `ECOWATT_ADMIN_TOKEN=off`;
 * - the `ecowatt_session` cookie of a dashboard sign-in: refused past its idle or absolute expiry,
 *   once signed out, when its account is disabled or its password changed; a state-changing
 *   request must also carry the session's `X-CSRF-Token` (and, when the browser names one, an
 *   `Origin` of this server).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import { bearerToken, sameSecret } from '../http/bearer-token.js';
import { ApiError } from '../model/errors.js';
import type { Principal } from '../model/operator.js';
import type { OperatorStore } from '../ports/operator-store.js';
import { apiKeyPrefix, csrfTokenOf, sha256 } from './secrets.js';
import type { SessionPolicy } from './sign-in.js';

export const SESSION_COOKIE = 'ecowatt_session';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Activity is written at most this often per session (idle expiry is as precise). */
const TOUCH_EVERY_MS = 60_000;

/** What identifying a request reads of it. */
export interface Credentials {
  headers: IncomingHttpHeaders;
  method: string;
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

export class OperatorAccess implements AdminAccess {
  private readonly token: string | null;
  private readonly keyTouched = new Map<string, number>();

  constructor(
    private readonly store: OperatorStore,
    /** `null`: the admin token is off. */
    adminToken: string | null,
    private readonly sessions: SessionPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.token = adminToken;
  }

  async identify(request: Credentials, opts: { keepAlive?: boolean } = {}): Promise<Principal | null> {
    const auth = request.headers.authorization;
    if (auth !== undefined) return this.bearer(auth);
    const sessionId = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (sessionId === null) return null;
    return this.session(sessionId, request, opts.keepAlive ?? true);
  }

  private async bearer(header: string): Promise<Principal> {
    const given = bearerToken(header);
    if (given === null) throw new ApiError('unauthorized');
    const prefix = apiKeyPrefix(given);
    if (prefix !== null) {
      const now = this.now();
      const key = await this.store.findApiKey(prefix);
      // The hash is compared even when no key has this prefix: the answer takes as long.
      const matches = sameSecret(sha256(given), key?.hash ?? '0'.repeat(64));
      if (!key || !matches) throw new ApiError('unauthorized', 'This API key is not known.');
      if (key.revokedAt !== null) throw new ApiError('unauthorized', 'This API key was revoked.');
      if (key.expiresAt !== null && key.expiresAt <= now) {
        throw new ApiError('unauthorized', 'This API key has expired.');
      }
      if (now - (this.keyTouched.get(prefix) ?? 0) >= TOUCH_EVERY_MS) {
        this.keyTouched.set(prefix, now);
        void this.store.touchApiKey(prefix, now).catch(() => undefined);
      }
      return { kind: 'apikey', name: key.name, role: key.role };
    }
    if (this.token !== null && sameSecret(given, this.token)) {
      return { kind: 'token', name: 'token', role: 'admin' };
    }
    throw new ApiError('unauthorized');
  }

  private async session(sessionId: string, request: Credentials, keepAlive: boolean): Promise<Principal> {
    const now = this.now();
    const idHash = sha256(sessionId);
    const s = await this.store.getSession(idHash);
    const ended = () => new ApiError('unauthorized', 'Your session has ended: sign in again.');
    if (!s) throw ended();
    if (s.expiresAt <= now || s.lastSeenAt + this.sessions.idleMs <= now) {
      void this.store.deleteSession(idHash).catch(() => undefined);
      throw ended();
    }
    const op = await this.store.getOperator(s.name);
    if (!op?.enabled || op.passwordChangedAt > s.createdAt) throw ended();
    if (!SAFE_METHODS.has(request.method.toUpperCase())) checkCsrf(sessionId, request.headers);
    if (keepAlive && now - s.lastSeenAt >= TOUCH_EVERY_MS)
      void this.store.touchSession(idHash, now).catch(() => undefined);
    return { kind: 'user', name: op.name, role: op.role };
  }
}

/** A change made with the session cookie must prove it comes from the dashboard's own page. */
function checkCsrf(sessionId: string, headers: IncomingHttpHeaders): void {
  const origin = headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new ApiError('csrf_failed', 'The Origin header is not a URL.');
    }
    const forwarded = headers['x-forwarded-host'];
    const hosts = [headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',') : [])].map((h) =>
      h?.trim(),
    );
    if (!hosts.includes(host))
      throw new ApiError('csrf_failed', `A request from ${origin} may not change anything here.`);
  }
  const given = headers['x-csrf-token'];
  if (typeof given !== 'string' || !sameSecret(given, csrfTokenOf(sessionId)))
    throw new ApiError('csrf_failed');
}
