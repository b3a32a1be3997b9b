/** Unauthenticated operations endpoints: no secrets, nothing a device could not already know. */
import type { FastifyInstance } from 'fastify';
import type { Storage } from '../../ports/storage.js';

export interface StatusInfo {
  version: string;
  mode: string;
  startedAt: number;
}

export function registerHealthRoutes(app: FastifyInstance, storage: Storage, info: StatusInfo): void {
  app.get('/health', async () => ({
    status: 'healthy',
    service: 'ecowatt-cloud',
    timestamp: new Date().toISOString(),
  }));

  app.get('/ready', async (_request, reply) => {
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    try {
      await storage.ping();
      checks.database = { ok: true };
    } catch (err) {
      checks.database = { ok: false, error: (err as Error).message };
    }
    const ready = Object.values(checks).every((c) => c.ok);
    reply.code(ready ? 200 : 503);
    return { ready, checks };
  });

  app.get('/status', async () => ({
    status: 'running',
    service: 'ecowatt-cloud',
    version: info.version,
    mode: info.mode,
    uptime_seconds: Math.round((Date.now() - info.startedAt) / 1000),
    timestamp: new Date().toISOString(),
  }));
}
