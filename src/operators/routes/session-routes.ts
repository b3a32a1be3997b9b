/**
 * Dashboard sign-in under /api: `POST /api/session` `{"name", "password"}` → 204 with the
 * session cookie (httpOnly, SameSite=Strict, Secure over TLS), `GET /api/session` → who is
 * signed in (and the session's CSRF token), `DELETE /api/session` → signed out everywhere the
 * cookie was, `PUT /api/session/password` `{"current_password", "new_password"}` → the signed-in
 * account's own password changed (every session of it ends; this one gets a new cookie).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AdminAccess, requireAccess, role } from '../../http/admin/admin-auth.js';
import { asFields, invalid } from '../../http/admin/params.js';
import { ApiError } from '../../model/errors.js';
import { actorOf } from '../../model/operator.js';
import type { OperatorStore } from '../../ports/operator-store.js';
import { readCookie, SESSION_COOKIE } from '../operator-access.js';
import { checkPassword, type OperatorService } from '../operator-service.js';
import { csrfTokenOf, sha256 } from '../secrets.js';
import type { SignIn } from '../sign-in.js';

export interface SessionRouteDeps {
  access: AdminAccess;
  signIn: SignIn;
  store: OperatorStore;
  operators: Pick<OperatorService, 'setPassword'>;
}

function cookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/api; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
}

export async function sessionRoutes(app: FastifyInstance, deps: SessionRouteDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { signIn, store } = deps;

  app.post('/session', role('public'), async (request, reply) => {
    const f = asFields(request.body);
    const name = f.name;
    const password = f.password;
    if (typeof name !== 'string' || name === '' || name.length > 64)
      invalid('name', 'required: the account name');
    if (typeof password !== 'string' || password === '' || password.length > 1024)
      invalid('password', 'required');
    const session = await signIn.signIn(name, password, request.ip, request.id);
    request.log.info({ event: 'sign_in', user: session.operator.name, source: request.ip }, 'signed in');
    noStore(reply);
    reply.header('set-cookie', cookie(request, session.sessionId, Math.floor(signIn.sessions.maxMs / 1000)));
    reply.code(204).send();
  });

  app.get('/session', role('viewer'), async (request, reply) => {
    noStore(reply);
    const p = request.principal;
    if (!p) throw new Error('unauthorised request reached GET /api/session');
    const sessionId = p.kind === 'user' ? readCookie(request.headers.cookie, SESSION_COOKIE) : null;
    return {
      name: p.name,
      role: p.role,
      kind: p.kind,
      actor: actorOf(p),
      ...(sessionId ? { csrf_token: csrfTokenOf(sessionId) } : {}),
    };
  });

  app.put('/session/password', role('viewer'), async (request, reply) => {
    const p = request.principal;
    if (p?.kind !== 'user') {
      // An API key or the admin token has no password of its own to change.
      throw new ApiError('conflict', 'Only an account signed in with its password can change that password.');
    }
    const f = asFields(request.body);
    if (
      typeof f.current_password !== 'string' ||
      f.current_password === '' ||
      f.current_password.length > 1024
    )
      invalid('current_password', 'required: the password in use now');
    const next = checkPassword(f.new_password, 'new_password');
    // The current password is checked as a sign-in is: slowed, locked and recorded the same way.
    await signIn.verify(p.name, f.current_password, request.ip, request.id);
    const operator = await deps.operators.setPassword(p.name, next, actorOf(p));
    // The change ended every session of the account, this one too: the browser gets a new one.
    const session = await signIn.openSession(operator);
    noStore(reply);
    reply.header('set-cookie', cookie(request, session.sessionId, Math.floor(signIn.sessions.maxMs / 1000)));
    reply.code(204).send();
  });

  // Public: signing out needs no valid session (an expired one is forgotten just the same).
  app.delete('/session', role('public'), async (request, reply) => {
    const sessionId = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (sessionId) await store.deleteSession(sha256(sessionId));
    noStore(reply);
    reply.header('set-cookie', cookie(request, '', 0));
    reply.code(204).send();
  });
}
