/**
 * `POST /aggregated/<id>`: the 1.3 firmware's upload endpoint (PROTOCOL-1.3.md §1-§3). The same
 * ingestion as `/process`: the path's id is the claim the sealed `device_id` must match, and the
 * answer is 200 only once the upload is durably stored (the device retries anything else).
 */
import type { FastifyInstance } from 'fastify';
import { DEVICE_ID_PATTERN } from '../../model/device.js';
import { ApiError } from '../../model/errors.js';
import type { IngestService } from '../ingest-service.js';

export function registerAggregatedRoute(app: FastifyInstance, ingest: IngestService): void {
  app.post<{ Params: { id: string } }>('/aggregated/:id', async (request) => {
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
  });
}
