/** Schemas of security events, alerts and the audit log in the admin API (device-views.ts writes them). */
import { Type } from 'typebox';
import { AnyObject, IsoTime, Limit, Nullable, QueryTime } from '../../http/api-schemas.js';

const DeviceFilter = Type.Optional(Type.String({ description: 'Only this device’s.' }));

/** observability/event-json.ts: the one shape of a security event (also on the live stream and MQTT). */
export const SecurityEventView = Type.Object({
  id: Type.Integer(),
  time: IsoTime,
  device_id: Nullable(Type.String()),
  code: Type.String({ description: 'An error code, or `alert`, `counter_reset_suspected`, …' }),
  reason: Type.String(),
  source: Nullable(Type.String()),
  nonce: Nullable(Type.Integer()),
  request_id: Nullable(Type.String()),
  detail: Type.Optional(AnyObject),
});

export const SecurityEventsQuery = Type.Object({
  device: DeviceFilter,
  code: Type.Optional(Type.String({ description: 'Only events with this code.' })),
  since: QueryTime,
  before: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Only events with a smaller id (the next page).',
    }),
  ),
  limit: Limit(100, 1000),
});

export const SecurityEvents = Type.Object({
  events: Type.Array(SecurityEventView, { description: 'Newest first.' }),
});

export const AlertView = Type.Object({
  id: Type.Integer(),
  time: IsoTime,
  rule: Type.String(),
  device_id: Nullable(Type.String()),
  // Read from the event's free-form detail, where the alert engine writes a string.
  message: Type.Optional(Type.Unsafe<unknown>(Type.String())),
  detail: Type.Optional(AnyObject),
});

export const AlertsQuery = Type.Object({ device: DeviceFilter, limit: Limit(100, 1000) });

export const Alerts = Type.Object({ alerts: Type.Array(AlertView, { description: 'Newest first.' }) });

export const AuditEntryView = Type.Object({
  id: Type.Integer(),
  time: IsoTime,
  actor: Type.String({ description: '`user:<name>`, `apikey:<name>` or `token`.' }),
  action: Type.String(),
  device_id: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  detail: Type.Optional(AnyObject),
});

export const AuditQuery = Type.Object({ device: DeviceFilter, limit: Limit(100, 1000) });

export const AuditLog = Type.Object({
  entries: Type.Array(AuditEntryView, { description: 'Newest first.' }),
});
