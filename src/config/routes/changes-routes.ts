/**
 * `POST /changes` and `POST /device_settings` (PROTOCOL.md §5, §10.8): the same answer, for the
 * calling device only, in the exact shape the field firmware parses.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import type { KeyDelivery } from '../../devices/key-delivery.js';
import { closeAfterReply, controlRequest } from '../../devices/routes/device-reply.js';
import { deviceProtocol, errorAnswers } from '../../http/api-schemas.js';
import { DeviceIdHeader, sealedOrBare, V1Envelope, V2Envelope } from '../../http/device-envelope-schemas.js';
import { ApiError } from '../../model/errors.js';
import type { ConfigService } from '../config-service.js';
import { ChangesAnswer, ChangesRequest, CONTROL_REFUSALS } from './device-config-schemas.js';

export interface ChangesRouteDeps {
  guard: ControlRequestGuard;
  config: ConfigService;
  keys: KeyDelivery;
}

const SUMMARY: Record<string, string> = {
  '/changes': 'Pending configuration for the calling device (e84f720 firmware)',
  '/device_settings': "The same as `POST /changes` (the reference server's other name)",
};

export async function changesRoutes(app: FastifyInstance, deps: ChangesRouteDeps): Promise<void> {
  closeAfterReply(app);
  for (const path of ['/changes', '/device_settings']) {
    app.post(
      path,
      {
        ...deviceProtocol,
        schema: {
          summary: SUMMARY[path],
          description:
            'Asked every 5 s, unsigned by the field firmware (allowed by the device policy or `ECOWATT_UNSECURED_CONTROL`, and then only from the address of its latest authenticated upload). Every answer, errors too, closes the connection and carries `Content-Length`. A change is offered again until the device is seen running it (§10.8).',
          headers: DeviceIdHeader,
          body: sealedOrBare(ChangesRequest, [V1Envelope, V2Envelope]),
          response: { 200: ChangesAnswer, ...errorAnswers(...CONTROL_REFUSALS, 'rate_limited') },
        },
      },
      async (request): Promise<Static<typeof ChangesAnswer>> => {
        const caller = await deps.guard.authenticate(controlRequest(request, Date.now()));
        const ts = caller.document.timestamp;
        // The reference server refuses a request without both fields; the device always sends both.
        if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
          throw new ApiError('malformed_payload', 'device_id and timestamp (device millis) are required.');
        }
        const answer = await deps.config.answerChanges(caller.device.id);
        // A v2 device still using an old key learns its new one here (docs/field-devices.md, key rotation).
        const offer = caller.protocol === 'v2' ? deps.keys.offer(caller.device, caller.keyKid) : null;
        return offer ? { ...answer, new_key: offer } : answer;
      },
    );
  }
}
