/** Remote configuration under /api: fleet default, device overrides, state, history, withdrawal. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, actor, role } from '../../http/admin/admin-auth.js';
import { errorAnswers, IdParams, Limit, ReasonBody } from '../../http/api-schemas.js';
import type { ConfigService } from '../config-service.js';
import {
  Changed,
  ConfigChangeBody,
  ConfigVersionView,
  DeviceConfigView,
  FleetConfigView,
} from './config-schemas.js';
import { deviceConfigView, fleetConfigView, versionView } from './config-views.js';

export interface ConfigRouteDeps {
  config: ConfigService;
  access: AdminAccess;
}

const HistoryQuery = Type.Object({ limit: Limit(50, 1000) });
const History = Type.Object({ versions: Type.Array(ConfigVersionView) });

/** A change's `reason` travels beside the keys; everything else in the body is configuration. */
function splitReason(body: Record<string, unknown>): {
  keys: Record<string, unknown>;
  reason: string | null;
} {
  const { reason, ...keys } = body;
  if (reason !== undefined && reason !== null && typeof reason !== 'string') {
    return { keys: { ...keys, reason }, reason: null };
  }
  return { keys, reason: reason ?? null };
}

export async function configRoutes(app: FastifyInstance, deps: ConfigRouteDeps): Promise<void> {
  const api = adminApi(app, deps.access);
  const { config } = deps;
  const device = errorAnswers('not_found');

  api.get(
    '/fleet/config',
    {
      ...role('viewer'),
      schema: {
        summary: 'The fleet default configuration',
        response: { 200: FleetConfigView, ...errorAnswers() },
      },
    },
    async () => fleetConfigView(await config.fleet()),
  );

  api.put(
    '/fleet/config',
    {
      ...role('operator'),
      schema: {
        summary: 'Change the fleet default configuration',
        body: ConfigChangeBody,
        response: { 200: Type.Intersect([FleetConfigView, Changed]), ...errorAnswers() },
      },
    },
    async (request) => {
      const { keys, reason } = splitReason(request.body);
      const outcome = await config.change(null, keys, { actor: actor(request), reason });
      return { ...fleetConfigView(await config.fleet()), changed_version: outcome.version };
    },
  );

  api.get(
    '/fleet/config/history',
    {
      ...role('viewer'),
      schema: {
        summary: 'Versions of the fleet configuration, newest first',
        querystring: HistoryQuery,
        response: { 200: History, ...errorAnswers() },
      },
    },
    async (request) => ({
      versions: (await config.history(null, request.query.limit ?? 50)).map(versionView),
    }),
  );

  api.get(
    '/devices/:id/config',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's configuration: desired, running, delivery",
        params: IdParams,
        response: { 200: DeviceConfigView, ...device },
      },
    },
    async (request) => deviceConfigView(await config.status(request.params.id)),
  );

  api.put(
    '/devices/:id/config',
    {
      ...role('operator'),
      schema: {
        summary: "Change a device's configuration overrides",
        params: IdParams,
        body: ConfigChangeBody,
        response: { 200: Type.Intersect([DeviceConfigView, Changed]), ...device },
      },
    },
    async (request) => {
      const { keys, reason } = splitReason(request.body);
      const outcome = await config.change(request.params.id, keys, { actor: actor(request), reason });
      return {
        ...deviceConfigView(await config.status(request.params.id)),
        changed_version: outcome.version,
      };
    },
  );

  api.post(
    '/devices/:id/config/withdraw',
    {
      ...role('operator'),
      schema: {
        summary: "Withdraw a device's pending configuration",
        params: IdParams,
        body: ReasonBody,
        response: { 200: Type.Intersect([DeviceConfigView, Changed]), ...device },
      },
    },
    async (request) => {
      const outcome = await config.withdraw(request.params.id, {
        actor: actor(request),
        reason: request.body.reason ?? null,
      });
      return {
        ...deviceConfigView(await config.status(request.params.id)),
        changed_version: outcome.version,
      };
    },
  );

  api.get(
    '/devices/:id/config/history',
    {
      ...role('viewer'),
      schema: {
        summary: "Versions of a device's configuration, newest first",
        params: IdParams,
        querystring: HistoryQuery,
        response: { 200: History, ...device },
      },
    },
    async (request) => ({
      versions: (await config.history(request.params.id, request.query.limit ?? 50)).map(versionView),
    }),
  );
}
