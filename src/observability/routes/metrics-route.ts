/**
 * `GET /metrics` in the Prometheus text format; behind a bearer token of its own when
 * `ECOWATT_METRICS_TOKEN` is set (deployments where it must not be public).
 */
import type { FastifyInstance } from 'fastify';
import { bearerToken, sameSecret } from '../../http/bearer-token.js';
import { ApiError } from '../../model/errors.js';
import type { Metrics } from '../metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token?: string): void {
  app.get('/metrics', async (request, reply) => {
    if (token !== undefined && !sameSecret(bearerToken(request.headers.authorization) ?? '', token)) {
      throw new ApiError('unauthorized');
    }
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
