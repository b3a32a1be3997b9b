/** Schemas of readings and stored uploads in the admin API (device-views.ts writes them). */
import { Type } from 'typebox';
import { IsoTime, Limit, Nullable, QueryRegisters, QueryTime } from '../../http/api-schemas.js';

export const ReadingView = Type.Object({
  time: IsoTime,
  register: Type.String({ description: 'Its name (`Vac1`), or `reg<RegID>` for an unknown one.' }),
  reg_id: Type.Integer(),
  raw: Nullable(Type.Integer({ description: 'As the inverter reported it; `null`: missing.' })),
  value: Nullable(Type.Number({ description: 'Scaled to its unit.' })),
  unit: Nullable(Type.String()),
  quality: Type.Enum(['exact', 'approximate', 'ambiguous', 'missing']),
  upload: Type.String({ description: 'The upload it came in (`GET /api/uploads/{id}`).' }),
  packet: Type.Integer(),
  sample: Type.Integer(),
});

export const ReadingsQuery = Type.Object({
  from: QueryTime,
  to: QueryTime,
  register: QueryRegisters,
  limit: Limit(1000, 10_000),
  cursor: Type.Optional(Type.String({ description: 'The `next` of the previous page.' })),
});

export const ReadingsPage = Type.Object({
  readings: Type.Array(ReadingView),
  next: Nullable(Type.String({ description: 'The cursor of the next page; `null`: the last one.' })),
});

export const LatestReadings = Type.Object({
  device_id: Type.String(),
  last_seen: Nullable(IsoTime),
  readings: Type.Array(ReadingView, { description: 'The latest reading of each register.' }),
});

const PacketView = Type.Object({
  index: Type.Integer(),
  status: Type.Enum(['decoded', 'quarantined', 'duplicate']),
  method: Nullable(Type.String({ description: 'The wire format it was decoded as.' })),
  label: Nullable(Type.String({ description: "The device's name for its format." })),
  device_timestamp: Nullable(Type.Integer()),
  samples: Type.Integer(),
  bytes: Type.String({ description: 'The packet as sent, base64.' }),
  reason: Type.Optional(Type.String({ description: 'Why it was quarantined.' })),
  notes: Type.Array(Type.String()),
});

export const UploadView = Type.Object({
  id: Type.String(),
  device_id: Type.String(),
  nonce: Nullable(Type.Integer()),
  protocol: Type.Enum(['v1', 'v2', 'unsecured']),
  encrypted: Type.Boolean(),
  key: Nullable(Type.String({ description: 'The kid of the device key; `null`: the fleet key or none.' })),
  received_at: IsoTime,
  source: Type.String(),
  request_id: Type.String(),
  device_timestamp: Nullable(Type.Integer()),
  nonce_gap: Type.Integer({ description: 'Uploads missed before this one, from the nonces.' }),
  packets: Type.Array(PacketView),
  quarantined: Type.Array(Type.Object({ index: Type.Integer(), reason: Nullable(Type.String()) })),
});
