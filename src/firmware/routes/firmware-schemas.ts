/**
 * Schemas of the firmware admin API: what firmware-views.ts writes (catalogue images, rollouts,
 * device update sessions) and what the catalogue and rollout routes take.
 */
import { type Static, type TBoolean, type TInteger, type TNumber, type TString, Type } from 'typebox';
import { IsoTime, Nullable } from '../../http/api-schemas.js';
import { GENERATIONS } from '../../model/device.js';
import { MAX_VERSION_LENGTH } from '../../protocol/firmware/semver.js';

export const GenerationName = Type.Enum(GENERATIONS, {
  description: 'The firmware generation of the devices that download the image.',
});

const Count = Type.Integer({ minimum: 0 });

/**
 * `null` or a scalar in a request, as one `type` list rather than `Nullable`'s `anyOf`: Fastify's
 * Ajv coerces request values, and an `anyOf`'s first branch turns a `null` into `""` or `0`
 * before the second is tried (an absent wait would become no wait, an absent reason an empty one).
 */
const OrNull = <T extends TString | TNumber | TInteger | TBoolean>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });

/** A body that is only an optional `reason` for the audit log. */
export const ReasonBody = Type.Object(
  { reason: Type.Optional(OrNull(Type.String({ description: 'Why, for the audit log.' }))) },
  { additionalProperties: false },
);

// ---- catalogue ------------------------------------------------------------------------------

export const ImageView = Type.Object({
  version: Type.String(),
  generation: GenerationName,
  original_size: Count,
  encrypted_size: Count,
  chunk_size: Count,
  total_chunks: Count,
  sha256: Type.String({ description: 'SHA-256 of the image, hex.' }),
  signature: Type.String({ description: 'RSA PKCS#1 v1.5 signature over the image, base64.' }),
  iv: Type.String({ description: 'AES-256-CBC IV of the encrypted image, base64.' }),
  key_id: Type.String({ description: 'Fingerprint of the key set the image was prepared with.' }),
  servable: Type.Boolean({
    description: "Whether devices can be served it: it was prepared with its generation's keys loaded now.",
  }),
  notes: Nullable(Type.String()),
  forced: Type.Boolean({ description: 'Added although its first byte is not the ESP32 image magic.' }),
  manifest_file: Type.String({ description: 'The §6.1 manifest, relative to the data directory.' }),
  created_at: IsoTime,
});

const keySetView = (description?: string) =>
  Type.Object(
    { configured: Type.Boolean(), key_id: Nullable(Type.String()) },
    description ? { description } : {},
  );

export const CatalogueView = Type.Object({
  keys: keySetView('The e84f720 key set (as before generations existed).'),
  key_sets: Type.Record(Type.String(), keySetView(), { description: 'One key set per generation.' }),
  max_bytes: Count,
  firmware: Type.Array(ImageView, { description: 'Newest version first.' }),
});

export const VersionParams = Type.Object({ version: Type.String({ minLength: 1 }) });

export const VersionQuery = Type.Object({
  generation: Type.Optional(
    Type.Enum(GENERATIONS, { description: 'The image of this generation (default: the first listed).' }),
  ),
});

export const VersionView = Type.Object({
  firmware: ImageView,
  images: Type.Array(ImageView, { description: "Every generation's image of the version." }),
});

export const AddImageQuery = Type.Object({
  version: Type.String({
    minLength: 1,
    maxLength: MAX_VERSION_LENGTH,
    description: 'The semantic version of the image (X.Y.Z[-pre][+build]).',
  }),
  generation: Type.Optional(
    Type.Enum(GENERATIONS, {
      description:
        'The generation of the devices that will download it, whose keys prepare it (default e84f720).',
    }),
  ),
  notes: Type.Optional(Type.String({ description: 'Release notes (the first 1000 characters are kept).' })),
  force: Type.Optional(
    Type.Enum(['true', '1', 'false', '0'], {
      description: 'Accept an image whose first byte is not the ESP32 image magic 0xE9.',
    }),
  ),
});

/** The image itself, streamed: never parsed, so its schema checks nothing. */
export const ImageBody = {
  content: {
    'application/octet-stream': {
      schema: Type.Unsafe<AsyncIterable<Uint8Array>>({
        description: 'The ESP32 image (.bin), encrypted and signed as it arrives.',
        contentMediaType: 'application/octet-stream',
      }),
    },
  },
} as const;

export const AddedImage = Type.Object({ firmware: ImageView });

// ---- rollouts -------------------------------------------------------------------------------

const TargetKind = Type.Enum(['all', 'group', 'devices', 'percentage']);

/**
 * One object for every kind, rather than a union per kind: a failure then names the field that
 * is wrong (`target.kind`), where a union would report its first alternative. Which fields a kind
 * needs is checked by the route.
 */
const TargetObject = Type.Object(
  {
    kind: TargetKind,
    group: Type.Optional(OrNull(Type.String({ description: '`group`: the group (required).' }))),
    devices: Type.Optional(
      Type.Array(Type.String(), { description: '`devices`: the device ids (required).' }),
    ),
    steps: Type.Optional(
      Type.Array(Type.Number(), {
        description: '`percentage`: increasing percentages in (0, 100] (default 5, 25, 50, 100).',
      }),
    ),
    step_wait_seconds: Type.Optional(
      OrNull(Type.Number({ description: '`percentage`: how long each step soaks (default 3600).' })),
    ),
  },
  { additionalProperties: false },
);

/** The object first: a value that is neither then fails as "expected a JSON object". */
const TargetBody = Type.Union([TargetObject, Type.Literal('all')], {
  description: 'Which devices: `"all"`, or an object naming its `kind`.',
});

export const CreateRolloutBody = Type.Object(
  {
    version: Type.String({ description: 'A catalogued version.' }),
    target: TargetBody,
    pinned: Type.Optional(
      Type.Boolean({ description: 'Offer it even to devices running a newer version (a downgrade).' }),
    ),
    failure_threshold: Type.Optional(
      OrNull(
        Type.Number({
          description:
            'Halt when failed / (failed + succeeded) passes this fraction from 0 to 1 (default 0.2).',
        }),
      ),
    ),
    min_outcomes: Type.Optional(
      OrNull(Type.Integer({ description: 'Outcomes needed before the threshold applies, ≥ 1 (default 5).' })),
    ),
    reason: Type.Optional(OrNull(Type.String({ description: 'Why, for the audit log.' }))),
  },
  { additionalProperties: false },
);

export const TargetView = Type.Union([
  Type.Object({ kind: Type.Literal('all') }),
  Type.Object({ kind: Type.Literal('group'), group: Type.String() }),
  Type.Object({ kind: Type.Literal('devices'), devices: Type.Array(Type.String()) }),
  Type.Object({
    kind: Type.Literal('percentage'),
    steps: Type.Array(Type.Number()),
    step_wait_seconds: Type.Number(),
  }),
]);

const outcomeRate = (description: string) =>
  Type.Object({ failed: Count, succeeded: Count, failure_rate: Nullable(Type.Number()) }, { description });

export const RolloutView = Type.Object({
  id: Type.Integer(),
  version: Type.String(),
  generations: Type.Array(GenerationName, {
    description: 'The generations with a servable image of the version.',
  }),
  state: Type.Enum(['active', 'paused', 'halted', 'aborted']),
  state_reason: Nullable(Type.String()),
  target: TargetView,
  step: Type.Object({
    index: Count,
    percent: Nullable(Type.Number({ description: 'The share offered now (percentage rollouts).' })),
    started_at: IsoTime,
  }),
  pinned: Type.Boolean(),
  failure_threshold: Type.Number(),
  min_outcomes: Type.Integer(),
  counts: Type.Object({
    sessions: Count,
    downloading: Count,
    downloaded: Count,
    verified: Count,
    succeeded: Count,
    failed: Count,
    cancelled: Count,
    in_flight: Count,
  }),
  failure_rate: Nullable(
    Type.Number({ description: 'Every outcome since the threshold last started afresh.' }),
  ),
  threshold: outcomeRate('What the failure threshold judges: authenticated outcomes only.'),
  unauthenticated: outcomeRate('Outcomes reported by bare requests: shown, never counted toward a halt.'),
  warning: Nullable(
    Type.String({
      description: 'Why an active rollout does not grow (bare reports alone pass the threshold).',
    }),
  ),
  outcomes_since: IsoTime,
  created_at: IsoTime,
  updated_at: IsoTime,
});

export const SessionView = Type.Object({
  id: Type.Integer(),
  device_id: Type.String(),
  rollout_id: Type.Integer(),
  version: Type.String(),
  from_version: Nullable(Type.String()),
  state: Type.Enum(['downloading', 'downloaded', 'verified', 'succeeded', 'failed', 'cancelled']),
  rollout_step: Count,
  client: Type.Enum(['field', 'later'], {
    description: 'The protocol the device speaks: `field` is e84f720, `later` is 1.3.',
  }),
  generation: GenerationName,
  total_chunks: Count,
  next_chunk: Count,
  chunks_served: Count,
  restarts: Count,
  progress_percent: Type.Number(),
  phase: Nullable(Type.String()),
  outcome: Nullable(Type.String()),
  outcome_authenticated: Nullable(
    Type.Boolean({
      description: '`false`: reported by a bare request (never counted toward a halt); `null`: no outcome.',
    }),
  ),
  started_at: IsoTime,
  last_chunk_at: Nullable(IsoTime),
  updated_at: IsoTime,
  finished_at: Nullable(IsoTime),
});

export const OneRollout = Type.Object({ rollout: RolloutView });
export const Rollouts = Type.Object({ rollouts: Type.Array(RolloutView) });
export const RolloutWithSessions = Type.Object({ rollout: RolloutView, sessions: Type.Array(SessionView) });

// ---- groups ---------------------------------------------------------------------------------

export const GroupParams = Type.Object({
  name: Type.String({ minLength: 1, description: '1-64 letters, digits or _.:- characters.' }),
});

export const GroupBody = Type.Object(
  {
    devices: Type.Array(Type.String(), {
      description: 'The members, as device ids; an empty list deletes the group.',
    }),
  },
  { additionalProperties: false },
);

export const GroupView = Type.Object({ group: Type.String(), devices: Type.Array(Type.String()) });

export const Groups = Type.Object({
  groups: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Members by group.' }),
});

// ---- GET /ota/status ------------------------------------------------------------------------

export const STATUS_SESSIONS_MAX = 100_000;

export const OtaStatusQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: STATUS_SESSIONS_MAX,
      default: 1000,
      description: `With credentials: how many recent sessions to read (default 1000, at most ${STATUS_SESSIONS_MAX}).`,
    }),
  ),
});

/** Every field is absent from the boot probe's answer (`{}`). */
export const OtaStatusView = Type.Object(
  {
    active_sessions: Type.Optional(Count),
    sessions: Type.Optional(
      Type.Record(Type.String(), SessionView, { description: "Each device's latest session." }),
    ),
    available_versions: Type.Optional(Type.Array(Type.String())),
    available_images: Type.Optional(
      Type.Array(Type.Object({ version: Type.String(), generation: GenerationName })),
    ),
    rollouts: Type.Optional(Type.Array(RolloutView)),
  },
  {
    description:
      "With a viewer's credentials or better: each device's latest session, what can be served, the rollouts. Without: `{}`.",
  },
);
