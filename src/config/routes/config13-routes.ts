/**
 * Remote configuration of generation 1.3 (PROTOCOL-1.3.md §6), from the same per-device model as
 * `/changes`: `GET /config/<id>` answers the pending change in the shape config_manager.cpp
 * applies, `POST /config/<id>/acknowledge` records that the device applied (or failed) what it was
 * last answered, `POST /config/<id>/current` records what it runs (sent at boot). The firmware
 * signs none of them: they are authenticated by the control-request guard, bare requests only
 * where allowed and from the address of the device's latest authenticated upload.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import { authenticate13, closeAfterReply } from '../../devices/routes/device-reply.js';
import { deviceProtocol, errorAnswers } from '../../http/api-schemas.js';
import { Gen13Envelope, sealedOrBare, V2Envelope } from '../../http/device-envelope-schemas.js';
import { ApiError } from '../../model/errors.js';
import type { ConfigService } from '../config-service.js';
import {
  Acknowledged13Answer,
  Acknowledgement13,
  BARE_CONTROL_REFUSALS,
  CONTROL_REFUSALS,
  Config13Answer,
  DevicePathParams,
  Reported13Answer,
  RunningConfig13,
} from './device-config-schemas.js';

export interface Config13RouteDeps {
  guard: ControlRequestGuard;
  config: ConfigService;
}

type IdParams = Static<typeof DevicePathParams>;

const UNSIGNED =
  'Unsigned by the 1.3 firmware: allowed by the device policy or `ECOWATT_UNSECURED_CONTROL`, and then only from the address of its latest authenticated upload. Every answer, errors too, closes the connection and carries `Content-Length`.';

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
  app.get<{ Params: IdParams }>(
    '/config/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Pending configuration for the calling device (1.3 firmware)',
        description: `Asked every \`config_poll_interval\` (5 s by default); whatever it carries is recorded as delivered. ${UNSIGNED}`,
        params: DevicePathParams,
        response: { 200: Config13Answer, ...errorAnswers(...BARE_CONTROL_REFUSALS) },
      },
    },
    async (request) => {
      const caller = await authenticate(request, undefined);
      return config.answerConfig13(caller.device.id);
    },
  );

  app.post<{ Params: IdParams }>(
    '/config/:id/acknowledge',
    {
      ...deviceProtocol,
      schema: {
        summary:
          'The device applied (or failed to apply) the configuration it was last answered (1.3 firmware)',
        description: `Sent only when something changed; covers the keys of the latest answer that carried any. ${UNSIGNED}`,
        params: DevicePathParams,
        body: sealedOrBare(Acknowledgement13, [Gen13Envelope, V2Envelope]),
        response: { 200: Acknowledged13Answer, ...errorAnswers(...CONTROL_REFUSALS, 'conflict') },
      },
    },
    async (request): Promise<Static<typeof Acknowledged13Answer>> => {
      requireObject(request.body);
      const caller = await authenticate(request, request.body);
      const ack = await config.acknowledge13(caller.device.id, caller.document);
      return { success: true, device_id: caller.device.id, status: ack.status, keys: ack.keys };
    },
  );

  app.post<{ Params: IdParams }>(
    '/config/:id/current',
    {
      ...deviceProtocol,
      schema: {
        summary: 'The configuration the device runs, reported at boot (1.3 firmware)',
        description: UNSIGNED,
        params: DevicePathParams,
        body: sealedOrBare(RunningConfig13, [Gen13Envelope, V2Envelope]),
        response: { 200: Reported13Answer, ...errorAnswers(...CONTROL_REFUSALS) },
      },
    },
    async (request): Promise<Static<typeof Reported13Answer>> => {
      requireObject(request.body);
      const caller = await authenticate(request, request.body);
      const reported = await config.reportCurrent13(caller.device.id, caller.document);
      return {
        success: true,
        device_id: caller.device.id,
        recorded: reported.keys,
        ...(reported.unknownRegisters.length > 0 ? { unknown_registers: reported.unknownRegisters } : {}),
      };
    },
  );
}
