/** `GET /metrics` in the Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
