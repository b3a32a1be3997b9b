/** Remote configuration under /api: fleet default, device overrides, state, history, withdrawal. */
import type { FastifyInstance } from 'fastify';
import { requireAdminToken } from '../../http/admin/admin-auth.js';
import { asFields, optString, parseLimit } from '../../http/admin/params.js';
import type { ConfigService } from '../config-service.js';
import { deviceConfigView, fleetConfigView, versionView } from './config-views.js';

export interface ConfigRouteDeps {
  config: ConfigService;
  adminToken: string;
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
  requireAdminToken(app, deps.adminToken);
  const { config } = deps;
  const actor = 'admin';

  app.get('/fleet/config', async () => fleetConfigView(await config.fleet()));

  app.put('/fleet/config', async (request) => {
    const { keys, reason } = splitReason(request.body);
    const outcome = await config.change(null, keys, { actor, reason });
    return { ...fleetConfigView(await config.fleet()), changed_version: outcome.version };
  });

  app.get<{ Querystring: Query }>('/fleet/config/history', async (request) => ({
    versions: (await config.history(null, parseLimit('limit', request.query.limit, 50, 1000))).map(
      versionView,
    ),
  }));

  app.get<{ Params: IdParams }>('/devices/:id/config', async (request) =>
    deviceConfigView(await config.status(request.params.id)),
  );

  app.put<{ Params: IdParams }>('/devices/:id/config', async (request) => {
    const { keys, reason } = splitReason(request.body);
    const outcome = await config.change(request.params.id, keys, { actor, reason });
    return { ...deviceConfigView(await config.status(request.params.id)), changed_version: outcome.version };
  });

  app.post<{ Params: IdParams }>('/devices/:id/config/withdraw', async (request) => {
    const reason = optString(asFields(request.body), 'reason') ?? null;
    const outcome = await config.withdraw(request.params.id, { actor, reason });
    return { ...deviceConfigView(await config.status(request.params.id)), changed_version: outcome.version };
  });

  app.get<{ Params: IdParams; Querystring: Query }>('/devices/:id/config/history', async (request) => ({
    versions: (
      await config.history(request.params.id, parseLimit('limit', request.query.limit, 50, 1000))
    ).map(versionView),
  }));
}
