/** Control commands under /api: queue, list, show, cancel. */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, actor, requireAccess, role } from '../../http/admin/admin-auth.js';
import { asFields, invalid, optString, parseLimit } from '../../http/admin/params.js';
import type { CommandStatus } from '../../ports/command-store.js';
import { COMMAND_STATUSES, type CommandService } from '../command-service.js';
import { commandView } from './command-views.js';

export interface CommandRouteDeps {
  commands: CommandService;
  access: AdminAccess;
}

type IdParams = { id: string };
type CommandParams = IdParams & { cid: string };

function parseStatus(v: string | undefined): CommandStatus | undefined {
  if (v === undefined || v === '') return undefined;
  if (!(COMMAND_STATUSES as readonly string[]).includes(v))
    invalid('status', `expected one of ${COMMAND_STATUSES.join(', ')}`);
  return v as CommandStatus;
}

export async function commandRoutes(app: FastifyInstance, deps: CommandRouteDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { commands } = deps;

  app.post<{ Params: IdParams }>('/devices/:id/commands', role('operator'), async (request, reply) => {
    const command = await commands.send(request.params.id, asFields(request.body), actor(request));
    reply.code(201);
    return commandView(command);
  });

  app.get<{ Params: IdParams; Querystring: Record<string, string> }>(
    '/devices/:id/commands',
    role('viewer'),
    async (request) => {
      const q = request.query;
      const status = parseStatus(q.status);
      const list = await commands.list(request.params.id, {
        limit: parseLimit('limit', q.limit, 100, 1000),
        ...(status ? { status } : {}),
      });
      return { commands: list.map(commandView) };
    },
  );

  app.get<{ Params: CommandParams }>('/devices/:id/commands/:cid', role('viewer'), async (request) =>
    commandView(await commands.get(request.params.id, request.params.cid)),
  );

  app.delete<{ Params: CommandParams }>('/devices/:id/commands/:cid', role('operator'), async (request) => {
    const reason = optString(asFields(request.body), 'reason') ?? null;
    return commandView(await commands.cancel(request.params.id, request.params.cid, actor(request), reason));
  });
}
