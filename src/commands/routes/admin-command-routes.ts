/** Control commands under /api: queue, list, show, cancel. */
import type { FastifyInstance } from 'fastify';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, actor, role } from '../../http/admin/admin-auth.js';
import { IdParams, ReasonBody, roleRouteErrors } from '../../http/api-schemas.js';
import type { CommandService } from '../command-service.js';
import {
  CommandBody,
  CommandList,
  CommandListQuery,
  CommandParams,
  CommandView,
} from './command-api-schemas.js';
import { commandView } from './command-views.js';

export interface CommandRouteDeps {
  commands: CommandService;
  access: AdminAccess;
}

export async function commandRoutes(app: FastifyInstance, deps: CommandRouteDeps): Promise<void> {
  const api = adminApi(app, deps.access);
  const { commands } = deps;

  api.post(
    '/devices/:id/commands',
    {
      ...role('operator'),
      schema: {
        summary: 'Queue a command for a device',
        description:
          'The device fetches it when it polls for commands (`/commands/<id>/poll`), one at a time, oldest first; an invalid command queues nothing.',
        params: IdParams,
        body: CommandBody,
        response: { 201: CommandView, ...roleRouteErrors('operator', true, 'not_found') },
      },
    },
    async (request, reply) => {
      const command = await commands.send(request.params.id, request.body, actor(request));
      reply.code(201);
      return commandView(command);
    },
  );

  api.get(
    '/devices/:id/commands',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's commands, newest first",
        params: IdParams,
        querystring: CommandListQuery,
        response: { 200: CommandList, ...roleRouteErrors('viewer', false, 'not_found') },
      },
    },
    async (request) => {
      const { status, limit } = request.query;
      const list = await commands.list(request.params.id, {
        limit: limit ?? 100,
        ...(status ? { status } : {}),
      });
      return { commands: list.map(commandView) };
    },
  );

  api.get(
    '/devices/:id/commands/:cid',
    {
      ...role('viewer'),
      schema: {
        summary: 'A command',
        params: CommandParams,
        response: { 200: CommandView, ...roleRouteErrors('viewer', false, 'not_found') },
      },
    },
    async (request) => commandView(await commands.get(request.params.id, request.params.cid)),
  );

  api.delete(
    '/devices/:id/commands/:cid',
    {
      ...role('operator'),
      schema: {
        summary: 'Cancel a pending command',
        description: 'Refused (409) once the command is in flight or finished.',
        params: CommandParams,
        body: ReasonBody,
        response: { 200: CommandView, ...roleRouteErrors('operator', true, 'not_found', 'conflict') },
      },
    },
    async (request) =>
      commandView(
        await commands.cancel(
          request.params.id,
          request.params.cid,
          actor(request),
          request.body.reason ?? null,
        ),
      ),
  );
}
