/** Schemas of the configuration admin API (what config-views.ts writes, what the routes take). */
import { Type } from 'typebox';
import { AnyObject, IsoTime, Nullable } from '../../http/api-schemas.js';

const KeyState = Type.Enum(['pending', 'delivered', 'applied', 'failed', 'unsupported']);
const ConfigValue = Type.Union([Type.Number(), Type.Boolean(), Type.Array(Type.String())]);
const ConfigValues = Type.Record(Type.String(), ConfigValue, {
  description: 'Configuration keys and values (docs/configuration.md).',
});

/** A configuration change: keys (a value, or `null` to remove a device override) and an optional reason. */
export const ConfigChangeBody = Type.Record(Type.String(), Type.Unknown(), {
  description:
    'Configuration keys to set (`null` removes a device override), and an optional `reason` for the audit log. The keys are checked against the configuration schema.',
});

const RunningView = Nullable(
  Type.Object({
    value: ConfigValue,
    basis: Type.String(),
    measured_ms: Type.Optional(Type.Number()),
    observed_at: Type.Optional(Nullable(IsoTime)),
  }),
);

const KeyView = Type.Object({
  desired: ConfigValue,
  source: Type.Enum(['fleet', 'device']),
  version: Type.Integer(),
  state: KeyState,
  running: Nullable(ConfigValue),
  delivered_at: Nullable(IsoTime),
  last_offered_at: Nullable(IsoTime),
  offers: Type.Integer(),
  offered_next: Type.Boolean(),
  note: Type.Optional(Type.String()),
});

export const DeviceConfigView = Type.Object({
  device_id: Type.String(),
  generation: Type.Enum(['e84f720', '1.3']),
  firmware: Type.String(),
  version: Type.Integer(),
  state: KeyState,
  desired: ConfigValues,
  fleet: ConfigValues,
  overrides: ConfigValues,
  running: Type.Record(Type.String(), RunningView),
  keys: Type.Record(Type.String(), KeyView),
  next_answer: Type.Unsafe<object>({
    ...AnyObject,
    description:
      "Exactly what the device's configuration channel answers now (`/changes`, or `GET /config/<id>`).",
  }),
});

export const FleetConfigView = Type.Object({
  version: Type.Integer(),
  config: ConfigValues,
  updated_at: Nullable(IsoTime),
});

export const ConfigVersionView = Type.Object({
  version: Type.Integer(),
  scope: Type.Enum(['fleet', 'device']),
  device_id: Type.Optional(Type.String()),
  changes: Type.Record(Type.String(), Nullable(ConfigValue)),
  result: ConfigValues,
  actor: Type.String(),
  reason: Nullable(Type.String()),
  source: Type.Enum(['api', 'mqtt', 'withdraw']),
  time: Nullable(IsoTime),
});

export const Changed = Type.Object({
  changed_version: Nullable(
    Type.Integer({ description: 'The version the change made; `null` when it changed nothing.' }),
  ),
});
