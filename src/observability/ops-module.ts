/**
 * Operations: the metrics fed by ingestion, security events and control requests, `GET /metrics`,
 * and the unauthenticated health endpoints (`/health`, `/ready`, `/status`).
 */
import type { FastifyInstance } from 'fastify';
import type { ControlRequestGuard } from '../devices/control-request-guard.js';
import { registerHealthRoutes } from '../http/ops/health-routes.js';
import { registerMetricsRoute } from '../http/ops/metrics-route.js';
import type { IngestService } from '../ingest/ingest-service.js';
import type { MqttHandle } from '../mqtt/mqtt-service.js';
import type { Storage } from '../ports/storage.js';
import type { Mode } from '../settings/sections.js';
import { VERSION } from '../version.js';
import type { Metrics } from './metrics.js';
import type { SecurityEvents } from './security-events.js';

export interface OpsModule {
  register(app: FastifyInstance): Promise<void>;
}

export interface OpsDeps {
  storage: Storage;
  metrics: Metrics;
  ingest: IngestService;
  events: SecurityEvents;
  guard: ControlRequestGuard;
  /** `null` when MQTT is off. */
  mqtt: MqttHandle | null;
}

export function createOps(mode: Mode, deps: OpsDeps): OpsModule {
  const { storage, metrics, mqtt } = deps;
  metrics.observe(deps.ingest, deps.events);
  deps.guard.onUnsecuredAccepted((_device, generation) => metrics.unsecuredControl(generation));
  return {
    async register(app) {
      registerMetricsRoute(app, metrics);
      registerHealthRoutes(app, storage, { version: VERSION, mode, startedAt: Date.now() }, mqtt);
    },
  };
}
