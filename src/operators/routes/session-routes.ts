/**
 * Dashboard sign-in under /api: `POST /api/session` `{"name", "password"}` → 204 with the
 * session cookie (httpOnly, SameSite=Strict, Secure over TLS), `GET /api/session` → who is
 * signed in (and the session's CSRF token), `DELETE /api/session` → signed out everywhere the
 * cookie was, `PUT /api/session/password` `{"current_password", "new_password"}` → the signed-in
 * account's own password changed (every session of it ends; this one gets a new cookie).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, role } from '../../http/admin/admin-auth.js';
import { errorAnswers, roleRouteErrors } from '../../http/api-schemas.js';
import { ApiError } from '../../model/errors.js';
import { actorOf } from '../../model/operator.js';
import type { OperatorStore } from '../../ports/operator-store.js';
import { readCookie, SESSION_COOKIE } from '../operator-access.js';
import type { OperatorService } from '../operator-service.js';
import { csrfTokenOf, sha256 } from '../secrets.js';
import type { SignIn } from '../sign-in.js';
import { NoContent, PasswordChangeBody, SessionView, SignInBody } from './session-schemas.js';

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
  const api = adminApi(app, deps.access);
  const { signIn, store } = deps;
  /** 204 with a new session's cookie (sign-in, and a changed password's fresh session). */
  const answerWithSession = (request: FastifyRequest, reply: FastifyReply, sessionId: string) => {
    noStore(reply);
    reply.header('set-cookie', cookie(request, sessionId, Math.floor(signIn.sessions.maxMs / 1000)));
    reply.code(204).send(null);
  };

  api.post(
    '/session',
    {
      ...role('public'),
      schema: {
        summary: 'Sign in with a name and password',
        description:
          'Sets the session cookie (httpOnly, SameSite=Strict, Secure over TLS). Failed sign-ins are slowed and, repeated, lock the account and the source for a while (429 names when to retry).',
        body: SignInBody,
        response: {
          204: NoContent('Signed in: `Set-Cookie` holds the session.'),
          ...errorAnswers('sign_in_failed', 'sign_in_locked'),
        },
      },
    },
    async (request, reply) => {
      const { name, password } = request.body;
      const session = await signIn.signIn(name, password, request.ip, request.id);
      request.log.info({ event: 'sign_in', user: session.operator.name, source: request.ip }, 'signed in');
      answerWithSession(request, reply, session.sessionId);
    },
  );

  api.get(
    '/session',
    {
      ...role('viewer'),
      schema: {
        summary: 'Who is signed in',
        description: 'With the session cookie, also the CSRF token every change must send.',
        response: { 200: SessionView, ...roleRouteErrors('viewer', false) },
      },
    },
    async (request, reply) => {
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
    },
  );

  api.put(
    '/session/password',
    {
      ...role('viewer'),
      schema: {
        summary: 'Change your own password',
        description:
          'The current password is checked as a sign-in is (slowed, locked, recorded). Every session of the account ends; this browser gets a new cookie. Only for an account signed in with its password (409 for an API key or the admin token).',
        body: PasswordChangeBody,
        response: {
          204: NoContent('Changed: `Set-Cookie` holds the new session.'),
          ...roleRouteErrors('viewer', true, 'sign_in_failed', 'sign_in_locked', 'conflict'),
        },
      },
      // Before the body is validated: an API key or the admin token has no password of its own
      // to change, whatever it sent.
      preValidation: async (request) => {
        if (request.principal?.kind !== 'user') {
          throw new ApiError(
            'conflict',
            'Only an account signed in with its password can change that password.',
          );
        }
      },
    },
    async (request, reply) => {
      const p = request.principal;
      if (p?.kind !== 'user') throw new Error('preValidation let a non-user change a password');
      const { current_password, new_password } = request.body;
      // The current password is checked as a sign-in is: slowed, locked and recorded the same way.
      await signIn.verify(p.name, current_password, request.ip, request.id);
      const operator = await deps.operators.setPassword(p.name, new_password, actorOf(p));
      // The change ended every session of the account, this one too: the browser gets a new one.
      const session = await signIn.openSession(operator);
      answerWithSession(request, reply, session.sessionId);
    },
  );

  // Public: signing out needs no valid session (an expired one is forgotten just the same).
  api.delete(
    '/session',
    {
      ...role('public'),
      schema: {
        summary: 'Sign out',
        description: 'Ends the session the cookie names and clears the cookie.',
        response: { 204: NoContent('Signed out: `Set-Cookie` clears the session.'), ...errorAnswers() },
      },
    },
    async (request, reply) => {
      const sessionId = readCookie(request.headers.cookie, SESSION_COOKIE);
      if (sessionId) await store.deleteSession(sha256(sessionId));
      noStore(reply);
      reply.header('set-cookie', cookie(request, '', 0));
      reply.code(204).send(null);
    },
  );
}
