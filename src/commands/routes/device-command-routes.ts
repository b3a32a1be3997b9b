/**
 * Command delivery to devices, generation 1.3's channel (PROTOCOL-1.3.md §7): `GET|POST
 * /commands/<id>/poll` hands out the oldest pending command under a lease, one at a time, in the
 * shape the firmware runs (command-answer.ts); `POST /commands/<id>/result` records its outcome.
 * Authenticated like `/changes`: an envelope around the body, or bare where the device's policy or
 * `ECOWATT_UNSECURED_CONTROL` allows unsigned control requests from it (a GET has no body, so it
 * is always bare, and the firmware signs nothing).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import { authenticate13, closeAfterReply } from '../../devices/routes/device-reply.js';
import { deviceProtocol } from '../../http/api-schemas.js';
import { buildCommandPollAnswer } from '../command-answer.js';
import type { CommandService } from '../command-service.js';
import {
  DevicePathParams,
  getPollErrors,
  PollAnswer,
  PollBody,
  postPollErrors,
  ResultAnswer,
  ResultBody,
  resultErrors,
} from './command-channel-schemas.js';

export interface CommandDeviceRouteDeps {
  guard: ControlRequestGuard;
  commands: CommandService;
}

type IdParams = { id: string };

export async function commandDeviceRoutes(app: FastifyInstance, deps: CommandDeviceRouteDeps): Promise<void> {
  closeAfterReply(app);
  const { guard, commands } = deps;

  const poll = async (id: string, body: unknown, request: FastifyRequest) => {
    const caller = await authenticate13(guard, request, id, body);
    // Nothing but what the firmware reads: its document holds 512 bytes (command-answer.ts).
    return buildCommandPollAnswer(await commands.poll(caller.device.id));
  };

  const pollSummary = 'Fetch the next command (generation 1.3)';
  app.get<{ Params: IdParams }>(
    '/commands/:id/poll',
    {
      ...deviceProtocol,
      schema: {
        summary: pollSummary,
        description: 'As the 1.3 firmware polls, unsigned (PROTOCOL-1.3.md §7).',
        params: DevicePathParams,
        response: { 200: PollAnswer, ...getPollErrors },
      },
    },
    async (request) => poll(request.params.id, undefined, request),
  );
  app.post<{ Params: IdParams }>(
    '/commands/:id/poll',
    {
      ...deviceProtocol,
      schema: {
        summary: pollSummary,
        description: 'The same with a body: sealed, or bare where allowed (PROTOCOL-1.3.md §7).',
        params: DevicePathParams,
        body: PollBody,
        response: { 200: PollAnswer, ...postPollErrors },
      },
    },
    async (request) => poll(request.params.id, request.body, request),
  );

  app.post<{ Params: IdParams }>(
    '/commands/:id/result',
    {
      ...deviceProtocol,
      schema: {
        summary: "Report a command's outcome (generation 1.3)",
        description:
          'A second result for the same command is acknowledged as a duplicate; the first one stands (PROTOCOL-1.3.md §7).',
        params: DevicePathParams,
        body: ResultBody,
        response: { 200: ResultAnswer, ...resultErrors },
      },
    },
    async (request) => {
      const id = request.params.id;
      const caller = await authenticate13(guard, request, id, request.body);
      const { command, duplicate } = await commands.report(caller.device.id, caller.document);
      return {
        success: true,
        device_id: caller.device.id,
        command_id: command.id,
        status: command.status,
        duplicate,
      };
    },
  );
}
