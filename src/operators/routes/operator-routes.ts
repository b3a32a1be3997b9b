/**
 * Operator accounts and API keys under /api (admin role): `GET|POST /api/users`,
 * `PATCH /api/users/:name` (`role`), `PUT /api/users/:name/password`,
 * `POST /api/users/:name/disable|enable`; `GET|POST /api/api-keys`, `DELETE /api/api-keys/:name`.
 * Password hashes and key hashes are never answered; a new key's secret once, at creation.
 */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, actor, requireAccess, role } from '../../http/admin/admin-auth.js';
import { asFields, invalid } from '../../http/admin/params.js';
import type { ApiKey, Operator } from '../../model/operator.js';
import type { OperatorService } from '../operator-service.js';

export interface OperatorRouteDeps {
  access: AdminAccess;
  operators: OperatorService;
}

type NameParams = { name: string };
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function userView(u: Operator) {
  return {
    name: u.name,
    role: u.role,
    enabled: u.enabled,
    created_at: iso(u.createdAt),
    last_sign_in_at: iso(u.lastSignInAt),
    password_changed_at: iso(u.passwordChangedAt),
    failed_sign_ins: u.failedSignIns,
    locked_until: u.lockedUntil !== null && u.lockedUntil > Date.now() ? iso(u.lockedUntil) : null,
  };
}

export function apiKeyView(k: ApiKey, now = Date.now()) {
  return {
    name: k.name,
    role: k.role,
    prefix: `ew_${k.prefix}_`,
    created_at: iso(k.createdAt),
    created_by: k.createdBy,
    expires_at: iso(k.expiresAt),
    last_used_at: iso(k.lastUsedAt),
    revoked_at: iso(k.revokedAt),
    state:
      k.revokedAt !== null ? 'revoked' : k.expiresAt !== null && k.expiresAt <= now ? 'expired' : 'active',
  };
}

export async function operatorRoutes(app: FastifyInstance, deps: OperatorRouteDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { operators } = deps;

  app.get('/users', role('admin'), async () => ({ users: (await operators.list()).map(userView) }));

  app.post('/users', role('admin'), async (request, reply) => {
    const f = asFields(request.body);
    const user = await operators.add({ name: f.name, role: f.role, password: f.password }, actor(request));
    reply.code(201);
    return { user: userView(user) };
  });

  app.get<{ Params: NameParams }>('/users/:name', role('admin'), async (request) => ({
    user: userView(await operators.require(request.params.name)),
  }));

  app.patch<{ Params: NameParams }>('/users/:name', role('admin'), async (request) => {
    const f = asFields(request.body);
    if (f.role === undefined) invalid('role', 'required (the only field that can be changed here)');
    return { user: userView(await operators.setRole(request.params.name, f.role, actor(request))) };
  });

  app.put<{ Params: NameParams }>('/users/:name/password', role('admin'), async (request) => {
    const f = asFields(request.body);
    return { user: userView(await operators.setPassword(request.params.name, f.password, actor(request))) };
  });

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    app.post<{ Params: NameParams }>(`/users/:name/${action}`, role('admin'), async (request) => ({
      user: userView(await operators.setEnabled(request.params.name, enabled, actor(request))),
    }));
  }

  app.get('/api-keys', role('admin'), async () => ({
    api_keys: (await operators.listKeys()).map((k) => apiKeyView(k)),
  }));

  app.post('/api-keys', role('admin'), async (request, reply) => {
    const f = asFields(request.body);
    const { apiKey, key } = await operators.createKey(
      { name: f.name, role: f.role, expiresDays: f.expires_days },
      actor(request),
    );
    reply.code(201);
    reply.header('cache-control', 'no-store');
    return { name: apiKey.name, role: apiKey.role, key, api_key: apiKeyView(apiKey) };
  });

  app.delete<{ Params: NameParams }>('/api-keys/:name', role('admin'), async (request) => ({
    api_key: apiKeyView(await operators.revokeKey(request.params.name, actor(request))),
  }));
}
