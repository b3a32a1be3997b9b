/** Unauthenticated operations endpoints: no secrets, nothing a device could not already know. */
import type { FastifyInstance } from 'fastify';
import type { Storage } from '../../ports/storage.js';

/** The MQTT side as operations see it (`null`: MQTT is off). */
export interface MqttOps {
  ready(): { ok: boolean; url: string };
  /** The link and relay state, and the outbox depth and age of its oldest record. */
  status(): Promise<{ outbox: { depth: number; oldest_age_seconds: number | null } }>;
}

export interface StatusInfo {
  version: string;
  mode: string;
  startedAt: number;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  storage: Storage,
  info: StatusInfo,
  mqtt: MqttOps | null = null,
): void {
  app.get('/health', async () => ({
    status: 'healthy',
    service: 'ecowatt-cloud',
    timestamp: new Date().toISOString(),
  }));

  app.get('/ready', async (_request, reply) => {
    const checks: Record<string, { ok: boolean; error?: string; url?: string }> = {};
    try {
      await storage.ping();
      checks.database = { ok: true };
    } catch (err) {
      checks.database = { ok: false, error: (err as Error).message };
    }
    // Uploads are still accepted while the broker is away (the outbox keeps them), but §10.1
    // defines ready as "database and broker reachable".
    if (mqtt) checks.mqtt = mqtt.ready();
    const ready = Object.values(checks).every((c) => c.ok);
    reply.code(ready ? 200 : 503);
    return { ready, checks };
  });

  app.get('/status', async () => {
    let mqttView: object = { mode: 'disabled' };
    let outbox: { depth: number; oldest_age_seconds: number | null } | null = null;
    if (mqtt) {
      const { outbox: o, ...rest } = await mqtt.status();
      mqttView = rest;
      outbox = o;
    }
    return {
      status: 'running',
      service: 'ecowatt-cloud',
      version: info.version,
      mode: info.mode,
      uptime_seconds: Math.round((Date.now() - info.startedAt) / 1000),
      timestamp: new Date().toISOString(),
      mqtt: mqttView,
      outbox,
    };
  });
}
