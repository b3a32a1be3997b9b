/**
 * Who may call the admin API under /api. Every admin route declares the least role it needs in
 * its route options (`{ config: { role: 'viewer' | 'operator' | 'admin' | 'public' } }`, see
 * `role()`); `requireAccess` refuses a request without credentials (401 `unauthorized`), with a
 * role below the route's (403 `forbidden`, naming the role needed), and every request of a route
 * that declares no role. The credentials themselves (a session cookie, an API key, the admin
 * token) are checked by the `AdminAccess` the composition root hands each capability.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../model/errors.js';
import { actorOf, type Principal, type Role, roleAllows } from '../../model/operator.js';

/** What a route needs: a role, or `public` (no credentials; the route checks what it needs itself). */
export type RouteAccess = Role | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role that may call this admin route (every route under /api declares one). */
    role?: RouteAccess;
  }
  interface FastifyRequest {
    /** Who made this request, once `requireAccess` let it through (`undefined` on public routes). */
    principal?: Principal;
  }
}

export interface AdminAccess {
  /**
   * The principal the request's credentials name; `null` when it carries none. Bad credentials
   * (an unknown key, an expired or revoked session, a state-changing request without its CSRF
   * token) throw an `ApiError`. `keepAlive: false` checks without counting as activity (a
   * session's idle expiry is not reset by a background check).
   */
  identify(
    request: Pick<FastifyRequest, 'headers' | 'method'>,
    opts?: { keepAlive?: boolean },
  ): Promise<Principal | null>;
}

/** Route options declaring the least role a route needs. */
export const role = (r: RouteAccess) => ({ config: { role: r } });

/** Checks a request against the role its route declares; the principal is kept on the request. */
export async function authorize(access: AdminAccess, request: FastifyRequest): Promise<void> {
  const need = request.routeOptions.config?.role;
  if (need === 'public') return;
  const principal = await access.identify(request);
  if (!principal) throw new ApiError('unauthorized');
  if (need === undefined) {
    // Fails closed: a route that forgot to declare its role is refused to everyone.
    throw new ApiError('forbidden', 'This route declares no role; nobody may call it.', {
      details: { required_role: null },
    });
  }
  if (!roleAllows(principal.role, need)) {
    throw new ApiError('forbidden', `This needs the ${need} role (you have ${principal.role}).`, {
      details: { required_role: need, role: principal.role },
    });
  }
  request.principal = principal;
}

/** Refuses every request of this plugin that its route's role does not allow (hooks stay inside the plugin). */
export function requireAccess(app: FastifyInstance, access: AdminAccess): void {
  app.addHook('onRequest', async (request) => authorize(access, request));
}

/** The audit log's actor of an authorised request (`user:<name>`, `apikey:<name>`, `token`). */
export function actor(request: FastifyRequest): string {
  if (!request.principal) throw new Error('actor() on a request requireAccess did not authorise');
  return actorOf(request.principal);
}
