/**
 * `POST /aggregated/<id>`: the 1.3 firmware's upload endpoint (PROTOCOL-1.3.md §1-§3). The same
 * ingestion as `/process`: the path's id is the claim the sealed `device_id` must match, and the
 * answer is 200 only once the upload is durably stored (the device retries anything else).
 */
import type { FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';
import { deviceProtocol, errorAnswers } from '../../http/api-schemas.js';
import {
  DEVICE_REFUSALS,
  Gen13Envelope,
  sealedOrBare,
  V2Envelope,
} from '../../http/device-envelope-schemas.js';
import { DEVICE_ID_PATTERN } from '../../model/device.js';
import { ApiError } from '../../model/errors.js';
import type { IngestService } from '../ingest-service.js';
import { Gen13UploadDocument, UploadAnswer } from './upload-schemas.js';

const AggregatedParams = Type.Object({
  id: Type.String({
    pattern: DEVICE_ID_PATTERN.source,
    description: 'The device (1-128 letters, digits or `_.:-`); the sealed `device_id` must be it.',
  }),
});

export function registerAggregatedRoute(app: FastifyInstance, ingest: IngestService): void {
  app.post<{ Params: Static<typeof AggregatedParams> }>(
    '/aggregated/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Upload telemetry (1.3 firmware)',
        description:
          'The device treats only 200 as success (one retry, then the packets go back to its ring); 200 is answered once the upload is durably stored. The protocol stages check the body, in the order of PROTOCOL.md §10.2.',
        params: AggregatedParams,
        body: sealedOrBare(Gen13UploadDocument, [Gen13Envelope, V2Envelope]),
        response: { 200: UploadAnswer, ...errorAnswers(...DEVICE_REFUSALS, 'rate_limited') },
      },
    },
    async (request): Promise<Static<typeof UploadAnswer>> => {
      const receivedAt = Date.now();
      const id = request.params.id;
      if (!DEVICE_ID_PATTERN.test(id)) {
        throw new ApiError(
          'malformed_payload',
          'The device id in the path must be 1-128 letters, digits or _.:- characters.',
        );
      }
      if (request.body === undefined) throw new ApiError('malformed_json', 'The request body is empty.');
      return ingest.process({
        body: request.body,
        claimedDeviceId: id,
        source: request.ip,
        requestId: request.id,
        receivedAt,
        generation: '1.3',
      });
    },
  );
}
