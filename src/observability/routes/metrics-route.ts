/**
 * `GET /metrics` in the Prometheus text format; behind a bearer token of its own when
 * `ECOWATT_METRICS_TOKEN` is set (deployments where it must not be public).
 */
import type { FastifyInstance } from 'fastify';
import { errorAnswers } from '../../http/api-schemas.js';
import { bearerToken, sameSecret } from '../../http/bearer-token.js';
import { ApiError } from '../../model/errors.js';
import type { Metrics } from '../metrics.js';
import { MetricsText } from './ops-schemas.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token?: string): void {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Metrics for Prometheus',
        description:
          'Public unless `ECOWATT_METRICS_TOKEN` is set; then it needs `Authorization: Bearer <that token>` (not an API key or the admin token).',
        response: { 200: MetricsText, ...errorAnswers('unauthorized') },
      },
    },
    async (request, reply) => {
      if (token !== undefined && !sameSecret(bearerToken(request.headers.authorization) ?? '', token)) {
        throw new ApiError('unauthorized');
      }
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
}
