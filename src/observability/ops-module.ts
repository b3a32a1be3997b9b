/**
 * Operations: the metrics fed by ingestion, security events and control requests, `GET /metrics`,
 * and the unauthenticated health endpoints (`/health`, `/ready`, `/status`).
 */
import type { FastifyInstance } from 'fastify';
import type { Generation } from '../model/device.js';
import type { Storage } from '../ports/storage.js';
import type { UploadFeed } from '../ports/upload-feed.js';
import { VERSION } from '../runtime/version.js';
import type { ServerSettings } from '../settings/sections.js';
import type { Metrics } from './metrics.js';
import { type MqttOps, registerHealthRoutes } from './routes/health-routes.js';
import { registerMetricsRoute } from './routes/metrics-route.js';
import type { SecurityEvents } from './security-events.js';

export interface OpsModule {
  register(app: FastifyInstance): Promise<void>;
}

export interface OpsDeps {
  storage: Storage;
  metrics: Metrics;
  ingest: UploadFeed;
  events: SecurityEvents;
  /** Tells of each bare (unsigned) control request it accepted. */
  guard: { onUnsecuredAccepted(listener: (device: unknown, generation: Generation) => void): void };
  /** `null` when MQTT is off. */
  mqtt: MqttOps | null;
}

export function createOps(server: Pick<ServerSettings, 'mode' | 'metricsToken'>, deps: OpsDeps): OpsModule {
  const { storage, metrics, mqtt } = deps;
  metrics.observe(deps.ingest, deps.events);
  deps.guard.onUnsecuredAccepted((_device, generation) => metrics.unsecuredControl(generation));
  return {
    async register(app) {
      registerMetricsRoute(app, metrics, server.metricsToken);
      registerHealthRoutes(
        app,
        storage,
        { version: VERSION, mode: server.mode, startedAt: Date.now() },
        mqtt,
      );
    },
  };
}
