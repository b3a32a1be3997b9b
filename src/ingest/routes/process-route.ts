/** `POST /process`: the field devices' upload endpoint (PROTOCOL.md §1, §10.2). */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { deviceProtocol, errorAnswers } from '../../http/api-schemas.js';
import {
  DEVICE_REFUSALS,
  DeviceIdHeader,
  Gen13Envelope,
  sealedOrBare,
  V1Envelope,
  V2Envelope,
} from '../../http/device-envelope-schemas.js';
import { rememberResponseKey } from '../../http/v2-response-signing.js';
import { ApiError } from '../../model/errors.js';
import type { IngestService } from '../ingest-service.js';
import { UploadAnswer, UploadDocument } from './upload-schemas.js';

export function registerProcessRoute(app: FastifyInstance, ingest: IngestService): void {
  app.post(
    '/process',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Upload telemetry (e84f720 firmware, protocol v2)',
        description:
          'The device treats only 200 as success and sends everything again otherwise; 200 is answered once the upload is durably stored. A 1.3 envelope (its `compressed` key) seals a 1.3 document (PROTOCOL-1.3.md §3). The protocol stages check the body, in the order of PROTOCOL.md §10.2.',
        headers: DeviceIdHeader,
        body: sealedOrBare(UploadDocument, [V1Envelope, Gen13Envelope, V2Envelope]),
        response: { 200: UploadAnswer, ...errorAnswers(...DEVICE_REFUSALS, 'rate_limited') },
      },
    },
    async (request): Promise<Static<typeof UploadAnswer>> => {
      const receivedAt = Date.now();
      if (request.body === undefined) throw new ApiError('malformed_json', 'The request body is empty.');
      const header = request.headers['x-device-id'];
      return ingest.process({
        body: request.body,
        onResponseKey: (key) => rememberResponseKey(request, key),
        claimedDeviceId: typeof header === 'string' && header.length > 0 ? header : undefined,
        source: request.ip,
        requestId: request.id,
        receivedAt,
      });
    },
  );
}
