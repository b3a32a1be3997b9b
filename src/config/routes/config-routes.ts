/** Remote configuration under /api: fleet default, device overrides, state, history, withdrawal. */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, actor, requireAccess, role } from '../../http/admin/admin-auth.js';
import { asFields, optString, parseLimit } from '../../http/admin/params.js';
import type { ConfigService } from '../config-service.js';
import { deviceConfigView, fleetConfigView, versionView } from './config-views.js';

export interface ConfigRouteDeps {
  config: ConfigService;
  access: AdminAccess;
}

type IdParams = { id: string };
type Query = Record<string, string>;

/** A change's `reason` travels beside the keys; everything else in the body is configuration. */
function splitReason(body: unknown): { keys: Record<string, unknown>; reason: string | null } {
  const f = asFields(body);
  const keys = Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'reason'));
  return { keys, reason: optString(f, 'reason') ?? null };
}

export async function configRoutes(app: FastifyInstance, deps: ConfigRouteDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { config } = deps;

  app.get('/fleet/config', role('viewer'), async () => fleetConfigView(await config.fleet()));

  app.put('/fleet/config', role('operator'), async (request) => {
    const { keys, reason } = splitReason(request.body);
    const outcome = await config.change(null, keys, { actor: actor(request), reason });
    return { ...fleetConfigView(await config.fleet()), changed_version: outcome.version };
  });

  app.get<{ Querystring: Query }>('/fleet/config/history', role('viewer'), async (request) => ({
    versions: (await config.history(null, parseLimit('limit', request.query.limit, 50, 1000))).map(
      versionView,
    ),
  }));

  app.get<{ Params: IdParams }>('/devices/:id/config', role('viewer'), async (request) =>
    deviceConfigView(await config.status(request.params.id)),
  );

  app.put<{ Params: IdParams }>('/devices/:id/config', role('operator'), async (request) => {
    const { keys, reason } = splitReason(request.body);
    const outcome = await config.change(request.params.id, keys, { actor: actor(request), reason });
    return { ...deviceConfigView(await config.status(request.params.id)), changed_version: outcome.version };
  });

  app.post<{ Params: IdParams }>('/devices/:id/config/withdraw', role('operator'), async (request) => {
    const reason = optString(asFields(request.body), 'reason') ?? null;
    const outcome = await config.withdraw(request.params.id, { actor: actor(request), reason });
    return { ...deviceConfigView(await config.status(request.params.id)), changed_version: outcome.version };
  });

  app.get<{ Params: IdParams; Querystring: Query }>(
    '/devices/:id/config/history',
    role('viewer'),
    async (request) => ({
      versions: (
        await config.history(request.params.id, parseLimit('limit', request.query.limit, 50, 1000))
      ).map(versionView),
    }),
  );
}
