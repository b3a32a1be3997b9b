/** Ingestion assembled from the shared pieces and the settings, with the two upload routes. */
import type { FastifyInstance, FastifyBaseLogger as Logger } from 'fastify';
import type { DeviceAuthenticator } from '../devices/device-authenticator.js';
import type { Refusals } from '../devices/refusals.js';
import type { Limiter } from '../http/rate-limit.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Storage } from '../ports/storage.js';
import type { DeviceSettings } from '../settings/sections.js';
import { IngestService } from './ingest-service.js';
import { registerAggregatedRoute } from './routes/aggregated-route.js';
import { registerProcessRoute } from './routes/process-route.js';

export interface IngestModule {
  service: IngestService;
  /** `POST /process` (e84f720) and `POST /aggregated/<id>` (1.3). */
  register(app: FastifyInstance): Promise<void>;
}

export interface IngestDeps {
  storage: Storage;
  authenticator: DeviceAuthenticator;
  refusals: Refusals;
  events: SecurityEvents;
  /** Per-device rate limit (`null`: off). */
  deviceLimiter: Limiter | null;
  /** Only this process writes the store (SQLite), so decoder state may be kept in memory. */
  cacheDecoderState: boolean;
  log: Logger;
}

export function createIngest(settings: DeviceSettings, deps: IngestDeps): IngestModule {
  const service = new IngestService(
    deps.storage,
    {
      pollIntervalMs: settings.pollIntervalMs,
      defaultAllowUnsecured: settings.defaultAllowUnsecured,
      defaultReplayMode: settings.defaultReplayMode,
      counterResetThreshold: settings.counterResetThreshold,
      nonceGapEventThreshold: settings.nonceGapEventThreshold,
      cacheDecoderState: deps.cacheDecoderState,
      ...(deps.deviceLimiter ? { deviceLimiter: deps.deviceLimiter } : {}),
    },
    deps.authenticator,
    deps.refusals,
    deps.events,
    deps.log,
  );
  return {
    service,
    async register(app) {
      registerProcessRoute(app, service);
      registerAggregatedRoute(app, service);
    },
  };
}
