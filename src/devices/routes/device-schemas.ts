/** Schemas of the device registry's admin API: what device-views.ts writes, what the routes take. */
import { Type } from 'typebox';
import { IsoTime, Nullable } from '../../http/api-schemas.js';
import { DEVICE_ID_PATTERN } from '../../model/device.js';
import { RegistrationView } from './report-schemas.js';

/*
 * Body fields that may be `null` are declared as a type list, not as api-schemas.ts `Nullable`:
 * Fastify's Ajv coerces types, and in an `anyOf` it tries the first branch first, so a `null` would
 * arrive as `0` or `""` (an `initial_nonce: null` device armed at 0, a `reason: null` audited as
 * ""). With a type list Ajv leaves a value of either type as it is.
 */

/** A nonce or `null`; `description` words what a failure expects, so it starts with the type. */
const nullableNonce = (description: string) =>
  Type.Unsafe<number | null>({
    type: ['integer', 'null'],
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description,
  });

/** An optional `reason` for the audit log, `null` kept as `null`. */
export const AuditReasonBody = Type.Object(
  {
    reason: Type.Optional(
      Type.Unsafe<string | null>({ type: ['string', 'null'], description: 'Why, for the audit log.' }),
    ),
  },
  { additionalProperties: false },
);

export const PolicyView = Type.Object({
  allow_unsecured: Type.Boolean({ description: 'Bare (un-enveloped) uploads are accepted.' }),
  allow_unsecured_config: Type.Boolean({
    description: 'Unsigned control requests (`/changes`, commands, 1.3 reports) are accepted.',
  }),
  require_v2: Type.Boolean({ description: 'Protocol v1 and bare requests are refused.' }),
  require_encryption: Type.Boolean({ description: 'Envelopes with `encrypted: false` are refused.' }),
  replay: Type.String({ description: '`strict`, or `window:N`.' }),
});

const KeyView = Type.Object({
  kid: Type.String(),
  status: Type.Enum(['active', 'retired']),
  created_at: IsoTime,
  last_used_at: Nullable(IsoTime),
  retired_at: Nullable(IsoTime),
});

const CountersView = Type.Object({
  uploads: Type.Integer(),
  readings: Type.Integer(),
  quarantined_packets: Type.Integer(),
  duplicate_packets: Type.Integer(),
  nonce_gaps: Type.Integer({ description: 'Uploads never received, from nonce gaps.' }),
  rejects: Type.Record(Type.String(), Type.Integer(), { description: 'Refused requests, by code.' }),
  unsecured_control: Type.Record(Type.String(), Type.Integer(), {
    description: 'Unsigned control requests accepted, by generation.',
  }),
});

const deviceFields = {
  id: Type.String(),
  status: Type.Enum(['active', 'disabled']),
  policy: PolicyView,
  auto_registered: Type.Boolean({
    description: 'Registered by its first authentic upload with the fleet key, not by an administrator.',
  }),
  created_at: IsoTime,
  first_seen: Nullable(IsoTime),
  last_seen: Nullable(IsoTime),
  last_nonce: Nullable(Type.Integer()),
  last_source: Nullable(Type.String()),
  generation: Nullable(Type.Enum(['e84f720', '1.3'], { description: 'Of its latest upload.' })),
  last_authenticated_source: Nullable(Type.String()),
  last_authenticated_at: Nullable(IsoTime),
  replay_high: Nullable(Type.Integer({ description: 'Highest accepted nonce; `null`: not armed yet.' })),
  counters: CountersView,
  keys: Type.Array(KeyView, { description: 'Its own keys; key material is never shown here.' }),
  uses_fleet_key: Type.Boolean({ description: 'It has no active key of its own.' }),
};

export const DeviceView = Type.Object(deviceFields);

export const DeviceDetailView = Type.Object({
  ...deviceFields,
  registration: Type.Union([RegistrationView, Type.Null()], {
    description: 'What the device reported at boot (`POST /devices`), a pending one included.',
  }),
});

/** A new key, shown once: a v1 key set, or a v2 device key (hex). */
export const NewKeyView = Type.Union([
  Type.Object({
    kind: Type.Literal('v1'),
    kid: Type.String(),
    hmac_key: Type.String(),
    aes_key: Type.String(),
    iv: Type.String(),
  }),
  Type.Object({ kind: Type.Literal('v2'), kid: Type.String(), key: Type.String() }),
]);

export const DeviceWithKey = Type.Object({ device: DeviceView, key: NewKeyView });

const policyFields = {
  replay: Type.Optional(
    Type.String({ description: '`strict`, or `window:N` with N from 1 to 1024 (any case).' }),
  ),
  allow_unsecured: Type.Optional(Type.Boolean({ description: 'Accept bare (un-enveloped) uploads.' })),
  require_encryption: Type.Optional(
    Type.Boolean({ description: 'Refuse envelopes with `encrypted: false`.' }),
  ),
  allow_unsecured_config: Type.Optional(
    Type.Boolean({ description: 'Accept unsigned control requests from any address.' }),
  ),
  require_v2: Type.Optional(Type.Boolean({ description: 'Refuse protocol v1 and bare requests.' })),
};

export const AddDeviceBody = Type.Object(
  {
    id: Type.String({
      pattern: DEVICE_ID_PATTERN.source,
      description: '1 to 128 letters, digits or `_.:-` characters, starting with a letter or digit',
    }),
    ...policyFields,
    with_key: Type.Optional(
      Type.Boolean({ description: 'Generate a v1 key of its own (shown once) instead of the fleet key.' }),
    ),
    key_kind: Type.Optional(
      Type.Enum(['v1', 'v2'], { description: '`v2`: a protocol v2 device key (always generated).' }),
    ),
    initial_nonce: Type.Optional(
      nullableNonce(
        'a non-negative integer or null: the highest nonce to treat as used (default 10000 for a v1 device, none for v2)',
      ),
    ),
  },
  { additionalProperties: false },
);

export const AddedDevice = Type.Object({
  device: DeviceView,
  key: Type.Optional(NewKeyView),
});

export const PolicyBody = Type.Object(policyFields, { additionalProperties: false });

export const ReplayResetBody = Type.Object(
  {
    reason: Type.String({ minLength: 1, description: 'Why the counter is re-armed, for the audit log.' }),
    to: Type.Optional(
      nullableNonce(
        'a non-negative integer or null: the highest nonce to treat as used (absent or null: the next authentic one is accepted)',
      ),
    ),
  },
  { additionalProperties: false },
);

export const KeyParams = Type.Object({
  id: Type.String({ minLength: 1 }),
  kid: Type.String({ minLength: 1 }),
});
