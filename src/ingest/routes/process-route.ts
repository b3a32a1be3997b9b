/** `POST /process`: the field devices' upload endpoint (PROTOCOL.md §1, §10.2). */
import type { FastifyInstance } from 'fastify';
import { rememberResponseKey } from '../../http/v2-response-signing.js';
import { ApiError } from '../../model/errors.js';
import type { IngestService } from '../ingest-service.js';

export function registerProcessRoute(app: FastifyInstance, ingest: IngestService): void {
  app.post('/process', async (request) => {
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
  });
}
