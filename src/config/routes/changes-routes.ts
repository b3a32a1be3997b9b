/**
 * `POST /changes` and `POST /device_settings` (PROTOCOL.md §5, §10.8): the same answer, for the
 * calling device only, in the exact shape the field firmware parses.
 */
import type { FastifyInstance } from 'fastify';
import type { ControlRequestGuard } from '../../devices/control-request-guard.js';
import type { KeyDelivery } from '../../devices/key-delivery.js';
import { closeAfterReply, controlRequest } from '../../devices/routes/device-reply.js';
import { ApiError } from '../../model/errors.js';
import type { ConfigService } from '../config-service.js';

export interface ChangesRouteDeps {
  guard: ControlRequestGuard;
  config: ConfigService;
  keys: KeyDelivery;
}

export async function changesRoutes(app: FastifyInstance, deps: ChangesRouteDeps): Promise<void> {
  closeAfterReply(app);
  for (const path of ['/changes', '/device_settings']) {
    app.post(path, async (request) => {
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
    });
  }
}
