/**
 * What the devices' configuration channels take and answer: `/changes` (PROTOCOL.md §5, §10.8)
 * and the 1.3 generation's `/config/<id>` (PROTOCOL-1.3.md §6), exactly as the firmware parses
 * them. They document `/api/openapi.json`; the protocol code checks (api-schemas.ts
 * `deviceProtocol`), so every answer stays byte for byte what the firmware reads.
 */
import { Type } from 'typebox';
import { IdParams } from '../../http/api-schemas.js';
import { DEVICE_REFUSALS } from '../../http/device-envelope-schemas.js';
import type { ErrorCode } from '../../model/errors.js';

/** The refusals of a control request, beyond an upload's: a bare one from elsewhere, an unknown device. */
export const CONTROL_REFUSALS: readonly ErrorCode[] = [
  ...DEVICE_REFUSALS,
  'control_source_mismatch',
  'not_found',
];

/** A request without a body (`GET /config/<id>`) is a bare one: no envelope to refuse. */
export const BARE_CONTROL_REFUSALS: readonly ErrorCode[] = [
  'malformed_payload',
  'authentication_failed',
  'unsecured_not_allowed',
  'v2_required',
  'device_disabled',
  'control_source_mismatch',
  'not_found',
];

/** What the field firmware sends every 5 s (§5.1). */
export const ChangesRequest = Type.Object(
  {
    device_id: Type.String({ description: 'The device asking (1-128 letters, digits or `_.:-`).' }),
    timestamp: Type.Integer({ minimum: 0, description: '`millis()`: required, as by the reference server.' }),
  },
  { title: 'ChangesRequest' },
);

const KeyOffer = Type.Object(
  {
    kid: Type.String({ description: "The new key's id." }),
    key: Type.String({
      description: "Base64 AES-128-CBC (PKCS#7) of the 32-byte key, under the old key's K_enc.",
    }),
    iv: Type.String({ description: 'Base64 of the 16-byte IV.' }),
  },
  {
    description: 'Only to a v2 request made with an older key of the device: its newest key (key rotation).',
  },
);

/** The §5.2 answer: the reference server's keys, order and types, for the calling device only. */
export const ChangesAnswer = Type.Object(
  {
    Changed: Type.Boolean({ description: 'Nothing is applied unless this is true.' }),
    pollFreqChanged: Type.Boolean(),
    newPollTimer: Type.Integer({ description: 'Sampling interval in seconds (0 when unchanged).' }),
    uploadFreqChanged: Type.Boolean(),
    newUploadTimer: Type.Integer({ description: 'Upload interval in seconds (0 when unchanged).' }),
    regsChanged: Type.Boolean(),
    regsCount: Type.Integer({ description: 'The length of `regs`.' }),
    regs: Type.Union([Type.Array(Type.String()), Type.Literal('')], {
      description:
        'REGISTER_MAP names in reading order, or `""` when unchanged (the reference server\'s idle value).',
    }),
    new_key: Type.Optional(KeyOffer),
  },
  { title: 'ChangesAnswer' },
);

/** The device's id in the path of a 1.3 configuration route. */
export const DevicePathParams = Type.Object({
  id: Type.String({
    ...IdParams.properties.id,
    description: 'The device; the request is authenticated as it.',
  }),
});

const ConfigUpdate = Type.Object(
  {
    sampling_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    upload_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    config_poll_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    command_poll_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    firmware_check_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    energy_poll_interval: Type.Optional(Type.Integer({ description: 'Seconds.' })),
    registers: Type.Optional(Type.Array(Type.String(), { description: 'REGISTER_MAP names.' })),
    power_management: Type.Optional(Type.Object({ enabled: Type.Boolean() })),
  },
  {
    description:
      "Only the keys to change; checked against the 1.3 firmware's ranges before they are offered.",
  },
);

/** `GET /config/<id>` (PROTOCOL-1.3.md §6): the pending change, or nothing pending. */
export const Config13Answer = Type.Union(
  [
    Type.Object({ is_pending: Type.Literal(false) }),
    Type.Object({
      is_pending: Type.Literal(true),
      pending_config: Type.Object({ config_update: ConfigUpdate }),
    }),
  ],
  { title: 'Config13Answer' },
);

const PowerManagementReport = Type.Object({
  enabled: Type.Boolean(),
  techniques: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 255, description: 'Bitmask of techniques.' }),
  ),
  energy_poll_freq: Type.Optional(
    Type.Integer({ description: 'Microseconds (cast to uint32 by the device).' }),
  ),
});

/** What config_manager.cpp posts after it applied (or failed to apply) a change. */
export const Acknowledgement13 = Type.Object(
  {
    status: Type.String({ description: '`applied` or `failed` (any case).' }),
    timestamp: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 0xffff_ffff, description: 'Unix seconds.' }),
    ),
    error_msg: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    power_management: Type.Optional(PowerManagementReport),
  },
  { title: 'Acknowledgement13' },
);

export const Acknowledged13Answer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  status: Type.Enum(['applied', 'failed']),
  keys: Type.Array(Type.String(), { description: 'The configuration keys of the answer acknowledged.' }),
});

const Seconds = Type.Optional(
  Type.Integer({ minimum: 0, maximum: 0xffff_ffff, description: 'Whole seconds.' }),
);

/** What the 1.3 firmware reports running, at boot (config_manager.cpp:530-615). */
export const RunningConfig13 = Type.Object(
  {
    sampling_interval: Seconds,
    upload_interval: Seconds,
    config_poll_interval: Seconds,
    command_poll_interval: Seconds,
    firmware_check_interval: Seconds,
    energy_poll_interval: Seconds,
    registers: Type.Optional(
      Type.Array(Type.String(), { description: 'Register names; unknown ones are listed back.' }),
    ),
    power_management: Type.Optional(PowerManagementReport),
  },
  { title: 'RunningConfig13', description: 'At least one key.' },
);

export const Reported13Answer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  recorded: Type.Array(Type.String(), { description: 'The configuration keys recorded as running.' }),
  unknown_registers: Type.Optional(
    Type.Array(Type.String(), { description: 'Register names not known here.' }),
  ),
});
