/** Schemas of the command admin API (what command-views.ts writes, what the routes take). */
import { Type } from 'typebox';
import { IsoTime, Limit, Nullable } from '../../http/api-schemas.js';
import { COMMAND_TYPES } from '../../model/command.js';
import type { FirmwareCommand as FirmwareCommandShape } from '../command-answer.js';
import { ASSUMED_CAPACITY_W, ATTEMPTS_RANGE, LEASE_RANGE } from '../command-schema.js';
import { COMMAND_STATUSES } from '../command-service.js';

/**
 * The error answers of a route that needs a role, besides the route's own: no or bad credentials,
 * a role too low (none is below viewer), and a change made with the session cookie but without
 * its CSRF token. Nothing here is command-specific: a candidate for http/api-schemas.ts.
 */
export const CommandParams = Type.Object({
  id: Type.String({ minLength: 1 }),
  cid: Type.String({ minLength: 1, description: 'The command id.' }),
});

/**
 * What the firmware runs: a poll answer's `commands[0].command` (PROTOCOL-1.3.md §7), typed as
 * command-answer.ts builds it. Two shapes, not one with an optional address: the document then
 * says a register write always has one, and the answer keeps the order command-answer.ts writes
 * (the serialiser writes a schema's optional fields after its required ones).
 */
export const FirmwareCommand = Type.Unsafe<FirmwareCommandShape>(
  Type.Union([
    Type.Object(
      {
        action: Type.Literal('write_register'),
        register_address: Type.Integer({ description: 'The Modbus address: always 8, the export limit.' }),
        value: Type.Integer({ description: 'Percent.' }),
      },
      { title: 'Register write' },
    ),
    Type.Object(
      {
        action: Type.Enum(['set_power_percentage', 'set_power']),
        value: Type.Integer({ description: 'Percent (`set_power_percentage`) or watts (`set_power`).' }),
      },
      { title: 'Export limit' },
    ),
  ]),
);

/**
 * A command to queue. The JSON types are checked here; which fields a type takes and their
 * ranges are checked together by parseCommand (command-schema.ts), which names every bad field
 * at once in `details.fields`, as the dashboard shows them. So `type` is any string here (an
 * unknown one is named with the others) and a field another type takes is not refused here.
 */
export const CommandBody = Type.Object(
  {
    type: Type.String({
      description: `${COMMAND_TYPES.join(', ')}: three ways to set the export power limit (register Pow).`,
    }),
    register: Type.Optional(
      Type.Unsafe<number | string>({
        type: ['integer', 'string'],
        description:
          '`write_register`: the register, by name (`Pow`, `export_power_limit`) or Modbus address; only Pow (8) is writable.',
      }),
    ),
    value: Type.Optional(Type.Number({ description: '`write_register`: an integer from 0 to 100 (%).' })),
    percentage: Type.Optional(
      Type.Number({ description: '`set_power_percentage`: an integer from 0 to 100 (%).' }),
    ),
    power_value: Type.Optional(
      Type.Number({
        description: `\`set_power\`: watts, 0 to ${ASSUMED_CAPACITY_W} in steps of ${ASSUMED_CAPACITY_W / 100} (the firmware assumes ${ASSUMED_CAPACITY_W} W and whole percent).`,
      }),
    ),
    lease_seconds: Type.Optional(
      Type.Number({
        description: `How long the device has to report a result before the command is offered again: an integer from ${LEASE_RANGE.min} to ${LEASE_RANGE.max}.`,
      }),
    ),
    max_attempts: Type.Optional(
      Type.Number({
        description: `Deliveries before the command expires: an integer from ${ATTEMPTS_RANGE.min} to ${ATTEMPTS_RANGE.max}.`,
      }),
    ),
    reason: Type.Optional(Nullable(Type.String({ description: 'Why, for the audit log.' }))),
  },
  {
    description:
      'Unknown fields, and fields of another type of command, are refused with the other problems of the command, every one named in `details.fields`.',
  },
);

export const CommandListQuery = Type.Object({
  // Empty is absent, as a form with a blank field sends it.
  status: Type.Optional(Type.Union([Type.Enum(COMMAND_STATUSES), Type.Literal('')])),
  limit: Limit(100, 1000),
});

export const CommandView = Type.Object({
  id: Type.String(),
  device_id: Type.String(),
  type: Type.Enum(COMMAND_TYPES),
  params: Type.Record(Type.String(), Type.Number(), {
    description: 'The command as queued: `register_address` and `value`, `percentage`, or `power_value`.',
  }),
  device_command: Nullable(FirmwareCommand),
  export_limit_percent: Type.Number({ description: 'The export power limit the command sets, percent.' }),
  status: Type.Enum(COMMAND_STATUSES),
  attempts: Type.Integer({ description: 'Deliveries so far.' }),
  max_attempts: Type.Integer(),
  lease_seconds: Type.Number(),
  lease_expires_at: Nullable(
    Type.String({
      format: 'date-time',
      description: "While in flight: when the device's time to report runs out.",
    }),
  ),
  created_at: IsoTime,
  created_by: Type.String({ description: 'The actor that queued it, as in the audit log.' }),
  reason: Nullable(Type.String()),
  delivered_at: Nullable(IsoTime),
  completed_at: Nullable(IsoTime),
  detail: Nullable(Type.String({ description: 'What the device reported with its result.' })),
  cancelled_by: Nullable(Type.String()),
});

export const CommandList = Type.Object({ commands: Type.Array(CommandView) });
