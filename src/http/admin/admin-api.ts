/**
 * What every admin plugin under /api starts with: the role check of admin-auth.ts, TypeBox route
 * schemas (api-schemas.ts) for validation, serialisation and the OpenAPI document, and an absent
 * body read as `{}` so a route whose fields are all optional takes a bare POST.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, requireAccess } from './admin-auth.js';

export type AdminApp = ReturnType<typeof adminApi>;

export function adminApi(app: FastifyInstance, access: AdminAccess) {
  requireAccess(app, access);
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body) request.body = {};
  });
  return app.withTypeProvider<TypeBoxTypeProvider>();
}
