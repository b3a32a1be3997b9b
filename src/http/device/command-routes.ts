/**
 * Command delivery for devices (later-firmware paths): `GET|POST /commands/<id>/poll` hands out
 * the oldest pending command under a lease, `POST /commands/<id>/result` records its outcome.
 * Authenticated like `/changes`: an envelope around the body, or bare where the device's policy
 * allows unsecured control requests (a GET has no body, so it is always bare).
 */
import type { FastifyInstance } from 'fastify';
import type { CommandService } from '../../commands/command-service.js';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import type { StoredCommand } from '../../ports/command-store.js';
import { isEnvelopeAttempt, isJsonObject } from '../../protocol/envelope-v1.js';
import { isV2Envelope } from '../../protocol/envelope-v2.js';
import { closeAfterReply, controlRequest } from './device-reply.js';

export interface CommandDeviceRouteDeps {
  guard: ControlRequestGuard;
  commands: CommandService;
}

type IdParams = { id: string };

/** The later firmware reads `command_type` + `parameters`, or `command.action`; ids as text. */
function deliveredView(c: StoredCommand) {
  return {
    command_id: c.id,
    command_type: c.type,
    parameters: c.params,
    command: { action: 'write_register', target_register: 'export_power', value: c.percent },
    attempt: c.attempts,
    lease_expires_at: c.leaseUntil === null ? null : new Date(c.leaseUntil).toISOString(),
  };
}

/** A bare body names its device by the path when it does not say (the later firmware does not). */
function withDevice(body: unknown, id: string): unknown {
  if (body === undefined) return { device_id: id };
  if (!isJsonObject(body) || isEnvelopeAttempt(body) || isV2Envelope(body) || body.device_id !== undefined) {
    return body;
  }
  return { device_id: id, ...body };
}

export async function commandDeviceRoutes(app: FastifyInstance, deps: CommandDeviceRouteDeps): Promise<void> {
  closeAfterReply(app);
  const { guard, commands } = deps;

  const poll = async (id: string, body: unknown, request: Parameters<typeof controlRequest>[0]) => {
    const caller = await guard.authenticate(
      controlRequest(request, Date.now(), { body: withDevice(body, id), pathDeviceId: id }),
    );
    const handed = await commands.poll(caller.device.id);
    return {
      success: true,
      device_id: caller.device.id,
      commands: handed.map(deliveredView),
      count: handed.length,
    };
  };

  app.get<{ Params: IdParams }>('/commands/:id/poll', async (request) =>
    poll(request.params.id, undefined, request),
  );
  app.post<{ Params: IdParams }>('/commands/:id/poll', async (request) =>
    poll(request.params.id, request.body, request),
  );

  app.post<{ Params: IdParams }>('/commands/:id/result', async (request) => {
    const id = request.params.id;
    const caller = await guard.authenticate(
      controlRequest(request, Date.now(), { body: withDevice(request.body, id), pathDeviceId: id }),
    );
    const { command, duplicate } = await commands.report(caller.device.id, caller.document);
    return {
      success: true,
      device_id: caller.device.id,
      command_id: command.id,
      status: command.status,
      duplicate,
    };
  });
}
