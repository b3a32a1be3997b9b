/** Unauthenticated operations endpoints: no secrets, nothing a device could not already know. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { errorAnswers } from '../../http/api-schemas.js';
import type { Storage } from '../../ports/storage.js';
import { HealthView, ReadyView, StatusView } from './ops-schemas.js';

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
  const ops = app.withTypeProvider<TypeBoxTypeProvider>();

  ops.get(
    '/health',
    {
      schema: {
        summary: 'The process answers',
        response: { 200: HealthView, ...errorAnswers() },
      },
    },
    async () => ({
      status: 'healthy' as const,
      service: 'ecowatt-cloud' as const,
      timestamp: new Date().toISOString(),
    }),
  );

  ops.get(
    '/ready',
    {
      schema: {
        summary: 'Database and broker reachable (PROTOCOL.md §10.1)',
        // Not ready is answered 503 with the same checks, not as an error.
        response: {
          ...errorAnswers(),
          200: ReadyView,
          503: { ...ReadyView, description: 'Not ready: a check failed.' },
        },
      },
    },
    async (_request, reply) => {
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
    },
  );

  ops.get(
    '/status',
    {
      schema: {
        summary: 'Version, mode, uptime, and the MQTT link and outbox',
        response: { 200: StatusView, ...errorAnswers() },
      },
    },
    async () => {
      let mqttView: Record<string, unknown> = { mode: 'disabled' };
      let outbox: { depth: number; oldest_age_seconds: number | null } | null = null;
      if (mqtt) {
        const { outbox: o, ...rest } = await mqtt.status();
        mqttView = rest;
        outbox = o;
      }
      return {
        status: 'running' as const,
        service: 'ecowatt-cloud' as const,
        version: info.version,
        mode: info.mode,
        uptime_seconds: Math.round((Date.now() - info.startedAt) / 1000),
        timestamp: new Date().toISOString(),
        mqtt: mqttView,
        outbox,
      };
    },
  );
}
