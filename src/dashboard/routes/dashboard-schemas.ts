/** Schemas of what the web dashboard reads from the admin API (dashboard-routes.ts). */
import { Type } from 'typebox';
import { IsoTime, Limit, Nullable, QueryRegisters, QueryTime } from '../../http/api-schemas.js';

const Quality = Type.Enum(['exact', 'approximate', 'ambiguous', 'missing']);

/** A register's latest value. */
export const LatestView = Type.Object({
  register: Type.String({ description: 'Its REGISTER_MAP name (`reg<N>` for an unknown RegID).' }),
  reg_id: Type.Integer(),
  time: IsoTime,
  raw: Type.Integer({ description: 'The u16 as the device read it.' }),
  value: Type.Number({ description: 'Scaled to its unit.' }),
  unit: Nullable(Type.String()),
  quality: Quality,
});

export const FleetRowView = Type.Object({
  id: Type.String(),
  status: Type.Enum(['active', 'disabled']),
  link: Type.Enum(['online', 'late', 'offline', 'never'], {
    description: "Measured against the device's own upload interval.",
  }),
  interval_ms: Type.Integer({ description: 'The upload interval expected of the device.' }),
  last_seen: Nullable(IsoTime),
  last_source: Nullable(Type.String()),
  generation: Nullable(Type.Enum(['e84f720', '1.3'])),
  power: Nullable(LatestView),
  energy_today_wh: Type.Number(),
  uploads: Type.Integer(),
  readings: Type.Integer(),
  quality: Type.Object({
    quarantined_packets: Type.Integer(),
    duplicate_packets: Type.Integer(),
    nonce_gaps: Type.Integer(),
    approximate_latest: Type.Integer(),
    ambiguous_latest: Type.Integer(),
  }),
  security: Type.Object({ rejects: Type.Integer(), events_24h: Type.Integer() }),
});

export const FleetView = Type.Object({
  server_time: IsoTime,
  devices: Type.Array(FleetRowView),
  totals: Type.Object({
    devices: Type.Integer(),
    online: Type.Integer(),
    late: Type.Integer(),
    offline: Type.Integer(),
    never: Type.Integer(),
    disabled: Type.Integer(),
    power_w: Type.Number({ description: 'Sum of the latest power of the devices online.' }),
    energy_today_wh: Type.Number(),
    security_events_24h: Type.Integer(),
  }),
});

export const UploadSummaryView = Type.Object({
  id: Type.String(),
  received_at: IsoTime,
  nonce: Nullable(Type.Integer()),
  protocol: Type.Enum(['v1', 'v2', 'unsecured']),
  encrypted: Type.Boolean(),
  key: Nullable(Type.String({ description: 'The device key that authenticated it; `null`: the fleet key.' })),
  source: Type.String(),
  nonce_gap: Type.Integer(),
  packets: Type.Integer(),
  samples: Type.Integer(),
  duplicates: Type.Integer(),
  methods: Type.Record(Type.String(), Type.Integer(), { description: 'Packets per compression method.' }),
  quarantined: Type.Array(Type.Object({ index: Type.Integer(), reason: Nullable(Type.String()) })),
});

export const UploadsQuery = Type.Object({
  limit: Limit(20, 200),
  before: Type.Optional(
    Type.String({
      pattern: '^(\\d{1,15})?$',
      description: 'an upload id',
    }),
  ),
});

export const UploadsView = Type.Object({
  uploads: Type.Array(UploadSummaryView),
  next: Nullable(Type.String({ description: '`before` for the next page; `null` on the last.' })),
});

export const SeriesQuery = Type.Object({
  from: QueryTime,
  to: QueryTime,
  points: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 5000,
      default: 720,
      description: 'How many buckets at most (default 720, at most 5000).',
    }),
  ),
  register: QueryRegisters,
});

// Large arrays: a type list serialises each value with one check, a union would try each branch.
const NumberOrNull = Type.Unsafe<number | null>({ type: ['number', 'null'] });

export const SeriesView = Type.Object({
  device_id: Type.String(),
  from: IsoTime,
  to: IsoTime,
  bucket_ms: Type.Integer(),
  registers: Type.Array(
    Type.Object({ reg_id: Type.Integer(), register: Type.String(), unit: Nullable(Type.String()) }),
  ),
  time: Type.Array(Type.Number(), { description: 'Bucket times, epoch milliseconds.' }),
  values: Type.Array(Type.Array(NumberOrNull), {
    description: 'Per register (as `registers`), the bucket averages; `null` marks a gap.',
  }),
  flags: Type.Array(Type.Array(Type.Integer()), {
    description: 'Per value: 0 exact, 1 some approximate value in the bucket, 2 some ambiguous value.',
  }),
});

export const LiveTicketView = Type.Object({
  ticket: Type.String({ description: 'For `GET /api/live?ticket=…` (EventSource cannot send headers).' }),
  expires_at: IsoTime,
});

export const LiveQuery = Type.Object({
  ticket: Type.Optional(
    Type.String({ description: 'From `POST /api/live/ticket`; instead of credentials.' }),
  ),
});

/** `GET /api/live`: Server-Sent Events, documented by media type. */
export const LiveStream = {
  description:
    'Server-Sent Events: `hello` (`{"server_time"}`), `upload` (each committed upload: device, nonce, packets, samples, latest values) and `security` (each security event), and a comment line as a heartbeat.',
  content: { 'text/event-stream': { schema: Type.String() } },
};
