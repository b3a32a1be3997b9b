/** What the unauthenticated operations endpoints answer (`/health`, `/ready`, `/status`, `/metrics`). */
import { Type } from 'typebox';
import { IsoTime, Nullable } from '../../http/api-schemas.js';

export const HealthView = Type.Object({
  status: Type.Literal('healthy'),
  service: Type.Literal('ecowatt-cloud'),
  timestamp: IsoTime,
});

const Check = Type.Object({
  ok: Type.Boolean(),
  error: Type.Optional(Type.String({ description: 'Why it failed.' })),
  url: Type.Optional(Type.String({ description: 'The broker (MQTT only).' })),
});

export const ReadyView = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Check, {
    description: '`database`, and `mqtt` unless MQTT is off.',
  }),
});

const OutboxView = Type.Object({
  depth: Type.Integer({ description: 'Records not yet published.' }),
  oldest_age_seconds: Nullable(Type.Number()),
});

export const StatusView = Type.Object({
  status: Type.Literal('running'),
  service: Type.Literal('ecowatt-cloud'),
  version: Type.String(),
  mode: Type.String({ description: '`production` or `development`.' }),
  uptime_seconds: Type.Integer(),
  timestamp: IsoTime,
  mqtt: Type.Record(Type.String(), Type.Unknown(), {
    description: '`{"mode": "disabled"}`, or the mode, the broker link and the relay.',
  }),
  outbox: Nullable(OutboxView),
});

/** `GET /metrics`: the Prometheus text exposition format. */
export const MetricsText = {
  description: 'Prometheus text exposition format (version 0.0.4).',
  content: { 'text/plain': { schema: Type.String() } },
};
