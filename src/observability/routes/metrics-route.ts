/**
 * `GET /metrics` in the Prometheus text format; behind a bearer token of its own when
 * `ECOWATT_METRICS_TOKEN` is set (deployments where it must not be public).
 */
import type { FastifyInstance } from 'fastify';
import { bearerMatches } from '../../http/bearer-token.js';
import { ApiError } from '../../model/errors.js';
import type { Metrics } from '../metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token?: string): void {
  const expected = token === undefined ? undefined : Buffer.from(token);
  app.get('/metrics', async (request, reply) => {
    if (expected && !bearerMatches(request.headers.authorization, expected)) {
      throw new ApiError('unauthorized');
    }
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
