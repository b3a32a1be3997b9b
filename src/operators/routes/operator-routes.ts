/**
 * Operator accounts and API keys under /api (admin role): `GET|POST /api/users`,
 * `PATCH /api/users/:name` (`role`), `PUT /api/users/:name/password`,
 * `POST /api/users/:name/disable|enable`; `GET|POST /api/api-keys`, `DELETE /api/api-keys/:name`.
 * Password hashes and key hashes are never answered; a new key's secret once, at creation.
 */
import type { FastifyInstance } from 'fastify';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, actor, role } from '../../http/admin/admin-auth.js';
import { roleRouteErrors } from '../../http/api-schemas.js';
import type { OperatorService } from '../operator-service.js';
import {
  ApiKeyAnswer,
  ApiKeyList,
  NameParams,
  NewApiKeyAnswer,
  NewApiKeyBody,
  NewUserBody,
  PasswordBody,
  RoleBody,
  UserAnswer,
  UserList,
} from './operator-schemas.js';
import { apiKeyView, userView } from './operator-views.js';

export interface OperatorRouteDeps {
  access: AdminAccess;
  operators: OperatorService;
}

export async function operatorRoutes(app: FastifyInstance, deps: OperatorRouteDeps): Promise<void> {
  const api = adminApi(app, deps.access);
  const { operators } = deps;

  api.get(
    '/users',
    {
      ...role('admin'),
      schema: {
        summary: 'Operator accounts',
        response: { 200: UserList, ...roleRouteErrors('admin', false) },
      },
    },
    async () => ({ users: (await operators.list()).map((u) => userView(u)) }),
  );

  api.post(
    '/users',
    {
      ...role('admin'),
      schema: {
        summary: 'Add an operator account',
        body: NewUserBody,
        response: { 201: UserAnswer, ...roleRouteErrors('admin', true, 'conflict') },
      },
    },
    async (request, reply) => {
      const user = await operators.add(request.body, actor(request));
      reply.code(201);
      return { user: userView(user) };
    },
  );

  api.get(
    '/users/:name',
    {
      ...role('admin'),
      schema: {
        summary: 'An operator account',
        params: NameParams,
        response: { 200: UserAnswer, ...roleRouteErrors('admin', false, 'not_found') },
      },
    },
    async (request) => ({ user: userView(await operators.require(request.params.name)) }),
  );

  api.patch(
    '/users/:name',
    {
      ...role('admin'),
      schema: {
        summary: "Change an account's role",
        description: 'Refused (409) when it would demote the last enabled admin account.',
        params: NameParams,
        body: RoleBody,
        response: { 200: UserAnswer, ...roleRouteErrors('admin', true, 'not_found', 'conflict') },
      },
    },
    async (request) => ({
      user: userView(await operators.setRole(request.params.name, request.body.role, actor(request))),
    }),
  );

  api.put(
    '/users/:name/password',
    {
      ...role('admin'),
      schema: {
        summary: "Set an account's password",
        description: 'Every session of the account ends.',
        params: NameParams,
        body: PasswordBody,
        response: { 200: UserAnswer, ...roleRouteErrors('admin', true, 'not_found') },
      },
    },
    async (request) => ({
      user: userView(await operators.setPassword(request.params.name, request.body.password, actor(request))),
    }),
  );

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    api.post(
      `/users/:name/${action}`,
      {
        ...role('admin'),
        schema: {
          summary: enabled ? 'Enable an account' : 'Disable an account',
          ...(enabled
            ? {}
            : { description: 'Its sessions end. Refused (409) for the last enabled admin account.' }),
          params: NameParams,
          response: {
            200: UserAnswer,
            ...roleRouteErrors('admin', true, 'not_found', ...(enabled ? [] : (['conflict'] as const))),
          },
        },
      },
      async (request) => ({
        user: userView(await operators.setEnabled(request.params.name, enabled, actor(request))),
      }),
    );
  }

  api.get(
    '/api-keys',
    {
      ...role('admin'),
      schema: {
        summary: 'API keys (without their secrets)',
        response: { 200: ApiKeyList, ...roleRouteErrors('admin', false) },
      },
    },
    async () => ({ api_keys: (await operators.listKeys()).map((k) => apiKeyView(k)) }),
  );

  api.post(
    '/api-keys',
    {
      ...role('admin'),
      schema: {
        summary: 'Create an API key',
        description: 'The answer holds the whole key, once: only its hash is kept.',
        body: NewApiKeyBody,
        response: { 201: NewApiKeyAnswer, ...roleRouteErrors('admin', true, 'conflict') },
      },
    },
    async (request, reply) => {
      const { name, role: keyRole, expires_days } = request.body;
      const { apiKey, key } = await operators.createKey(
        { name, role: keyRole, expiresDays: expires_days },
        actor(request),
      );
      reply.code(201);
      reply.header('cache-control', 'no-store');
      return { name: apiKey.name, role: apiKey.role, key, api_key: apiKeyView(apiKey) };
    },
  );

  api.delete(
    '/api-keys/:name',
    {
      ...role('admin'),
      schema: {
        summary: 'Revoke an API key',
        description: 'A revoked key keeps its name; it cannot be revoked twice (409).',
        params: NameParams,
        response: { 200: ApiKeyAnswer, ...roleRouteErrors('admin', true, 'not_found', 'conflict') },
      },
    },
    async (request) => ({
      api_key: apiKeyView(await operators.revokeKey(request.params.name, actor(request))),
    }),
  );
}
