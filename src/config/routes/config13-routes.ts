/**
 * Remote configuration of generation 1.3 (PROTOCOL-1.3.md §6), from the same per-device model as
 * `/changes`: `GET /config/<id>` answers the pending change in the shape config_manager.cpp
 * applies, `POST /config/<id>/acknowledge` records that the device applied (or failed) what it was
 * last answered, `POST /config/<id>/current` records what it runs (sent at boot). The firmware
 * signs none of them: they are authenticated by the control-request guard, bare requests only
 * where allowed and from the address of the device's latest authenticated upload.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import { authenticate13, closeAfterReply } from '../../devices/routes/device-reply.js';
import { ApiError } from '../../model/errors.js';
import type { ConfigService } from '../config-service.js';

export interface Config13RouteDeps {
  guard: ControlRequestGuard;
  config: ConfigService;
}

type IdParams = { id: string };

export async function config13Routes(app: FastifyInstance, deps: Config13RouteDeps): Promise<void> {
  closeAfterReply(app);
  const { guard, config } = deps;

  const authenticate = (request: FastifyRequest<{ Params: IdParams }>, body: unknown) =>
    authenticate13(guard, request, request.params.id, body);

  /** A posted document must be a JSON object (the firmware always sends one). */
  const requireObject = (body: unknown): void => {
    if (body === undefined) throw new ApiError('malformed_json', 'The request body is empty.');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError('malformed_payload', 'Expected a JSON object.');
    }
  };

  // The firmware sends `Content-Type: application/json` on this GET, without a body.
  app.get<{ Params: IdParams }>('/config/:id', async (request) => {
    const caller = await authenticate(request, undefined);
    return config.answerConfig13(caller.device.id);
  });

  app.post<{ Params: IdParams }>('/config/:id/acknowledge', async (request) => {
    requireObject(request.body);
    const caller = await authenticate(request, request.body);
    const ack = await config.acknowledge13(caller.device.id, caller.document);
    return { success: true, device_id: caller.device.id, status: ack.status, keys: ack.keys };
  });

  app.post<{ Params: IdParams }>('/config/:id/current', async (request) => {
    requireObject(request.body);
    const caller = await authenticate(request, request.body);
    const reported = await config.reportCurrent13(caller.device.id, caller.document);
    return {
      success: true,
      device_id: caller.device.id,
      recorded: reported.keys,
      ...(reported.unknownRegisters.length > 0 ? { unknown_registers: reported.unknownRegisters } : {}),
    };
  });
}
