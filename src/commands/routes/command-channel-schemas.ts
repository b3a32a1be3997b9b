/**
 * The wire format of generation 1.3's command channel (PROTOCOL-1.3.md §7), for the OpenAPI
 * document only: these routes keep checking requests in their protocol stages and answering in
 * the bytes the firmware reads (api-schemas.ts `deviceProtocol`).
 */
import { type TSchema, Type } from 'typebox';
import { errorAnswers } from '../../http/api-schemas.js';
import { controlErrors, V1Envelope, V2Envelope } from '../../http/device-envelope-schemas.js';
import { COMMAND_STATUSES } from '../command-service.js';
import { FirmwareCommand } from './command-api-schemas.js';

export const DevicePathParams = Type.Object({
  id: Type.String({ minLength: 1, description: 'The device id; a signed request must be that device.' }),
});

const Sealed = (bare: TSchema, what: string) =>
  Type.Union([V1Envelope, V2Envelope, bare], {
    description: `${what}, sealed in an envelope; or bare, as the 1.3 firmware sends it, where the device's policy or \`ECOWATT_UNSECURED_CONTROL\` allows unsigned control requests (and only from the address of its latest authenticated upload, unless its own policy allows them).`,
  });

export const PollBody = Sealed(
  Type.Object(
    { device_id: Type.Optional(Type.String({ description: 'The path names the device when absent.' })) },
    { title: 'Bare poll' },
  ),
  'Any JSON object naming the device (or nothing: a GET has no body)',
);

const FlatResult = Type.Object(
  {
    command_id: Type.Union([Type.String(), Type.Integer()], { description: 'The id the poll handed out.' }),
    status: Type.String({
      description: '`success`, `succeeded`, `completed` or `ok`; `failed`, `failure` or `error` (any case).',
    }),
    detail: Type.Optional(Type.String()),
    executed_at: Type.Optional(
      Type.String({ description: "The device's clock (`YYYY-MM-DDTHH:MM:SSZ`), kept in the detail." }),
    ),
  },
  { title: 'Result' },
);

export const ResultBody = Sealed(
  Type.Union([Type.Object({ command_result: FlatResult }, { title: 'Result as 1.3 sends it' }), FlatResult]),
  'A command result, `{"command_result": {…}}` as the 1.3 firmware writes it or flat',
);

export const PollAnswer = Type.Object(
  {
    commands: Type.Array(
      Type.Object({
        command_id: Type.String(),
        command: FirmwareCommand,
      }),
      { maxItems: 1 },
    ),
    count: Type.Integer({ minimum: 0, maximum: 1 }),
  },
  {
    description:
      'At most one command, the oldest pending one, leased until its result arrives (offered again when the lease runs out): the firmware runs only `commands[0]` and reads the answer into 512 bytes.',
  },
);

export const ResultAnswer = Type.Object({
  success: Type.Literal(true),
  device_id: Type.String(),
  command_id: Type.String(),
  status: Type.Enum(COMMAND_STATUSES),
  duplicate: Type.Boolean({ description: 'The command had its result already; the first one stands.' }),
});

/** What the control-request guard (devices/control-request-guard.ts) refuses a bare request for. */
const BARE_ERRORS = [
  'device_disabled',
  'v2_required',
  'unsecured_not_allowed',
  'control_source_mismatch',
  'rate_limited',
] as const;

/** A request with a body can meet every refusal of a control request (device-envelope-schemas.ts). */

/** A GET carries no body: it is always bare. */
export const getPollErrors = errorAnswers(...BARE_ERRORS);
export const postPollErrors = controlErrors();
/** And a result for a command the device was never handed (409), or does not have (404). */
export const resultErrors = controlErrors('conflict');
