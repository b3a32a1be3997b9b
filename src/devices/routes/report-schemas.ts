/**
 * Schemas of the generation 1.3 device reports (PROTOCOL-1.3.md §9): the documents the devices
 * send (documentation only: device-reports.ts checks them, in the protocol's order) and what the
 * admin API shows of them (device-reports.ts `energyView`, `faultView`, `registrationView`).
 */
import { Type } from 'typebox';
import { IsoTime, Nullable } from '../../http/api-schemas.js';
import { POWER_TECHNIQUES, REGISTRATION_LIMITS } from '../device-reports.js';

// The bounds device-reports.ts checks (its MAX_MS, FAULT_TEXT_MAX, FAULT_DETAILS_MAX).
const TIMESTAMP_MAX = 2 ** 53 - 1;
const FAULT_TEXT_MAX = 64;
const FAULT_DETAILS_MAX = 256;

const DeviceTime = Nullable(
  Type.String({
    format: 'date-time',
    description: 'The device timestamp as a time, when it is one (a device without NTP counts from boot).',
  }),
);

const Modes = (description: string) =>
  Type.Object(
    {
      high_perf: Type.Number(),
      normal: Type.Number(),
      low_power: Type.Number(),
      sleep: Type.Number(),
    },
    { description },
  );

export const EnergyReportView = Type.Object({
  id: Type.Integer(),
  received_at: IsoTime,
  timestamp: Nullable(Type.Number({ description: 'As the device sent it (unix ms, or ms since boot).' })),
  device_time: DeviceTime,
  enabled: Type.Boolean(),
  techniques: Nullable(Type.String({ description: 'Technique bits as the firmware prints them (`0x0B`).' })),
  // Typed as the strings device-reports.ts `techniqueNames` returns; documented as the names it knows.
  technique_names: Type.Array(Type.Unsafe<string>(Type.Enum(POWER_TECHNIQUES.map(([, name]) => name)))),
  avg_current_ma: Nullable(Type.Number()),
  energy_saved_mah: Nullable(Type.Number()),
  peripheral_savings_mah: Nullable(Type.Number()),
  uptime_ms: Nullable(Type.Number()),
  modes_ms: Modes('Milliseconds in each power mode since boot.'),
  modes_percent: Modes("Each mode's share of the time in all modes, in percent (one decimal)."),
  source: Type.String(),
});

export const FaultReportView = Type.Object({
  id: Type.Integer(),
  received_at: IsoTime,
  timestamp: Nullable(Type.Number({ description: 'As the device sent it (unix ms, or ms since boot).' })),
  device_time: DeviceTime,
  fault_type: Nullable(Type.String()),
  recovery_action: Nullable(Type.String()),
  success: Type.Boolean(),
  details: Nullable(Type.String()),
  retry_count: Nullable(Type.Integer()),
  source: Type.String(),
});

export const RegistrationView = Type.Object({
  device_id: Type.String(),
  device_name: Nullable(Type.String()),
  firmware_version: Nullable(Type.String()),
  location: Nullable(Type.String()),
  description: Nullable(Type.String()),
  received_at: IsoTime,
  source: Type.String({ description: 'The address it came from.' }),
  verified: Type.Boolean({
    description:
      '`false`: a pending registration, sent unauthenticated for an id no device had: its words are the sender’s.',
  }),
  from_upload_address: Type.Optional(
    Nullable(
      Type.Boolean({
        description:
          "On a device: whether it came from the address of the device's authenticated uploads (`null`: none yet).",
      }),
    ),
  ),
});

export const EnergyReports = Type.Object({
  device_id: Type.String(),
  latest: Nullable(EnergyReportView),
  reports: Type.Array(EnergyReportView, { description: 'Newest first.' }),
});

export const FaultReports = Type.Object({
  device_id: Type.String(),
  faults: Type.Array(FaultReportView, { description: 'Newest first.' }),
});

export const PendingRegistrations = Type.Object({
  registrations: Type.Array(RegistrationView, {
    description: 'Registrations for ids no device has yet, newest first.',
  }),
});

// What the firmware sends. Documentation only: the protocol code checks each field and names it.

const Timestamp = Type.Integer({ minimum: 0, maximum: TIMESTAMP_MAX, description: 'Device millis.' });
const text = (max: number, description: string, minLength = 0) =>
  Type.String({ minLength, maxLength: max, description });

export const RegistrationDocument = Type.Object(
  {
    device_id: Type.String(),
    device_name: Type.Optional(Nullable(text(REGISTRATION_LIMITS.device_name, 'Single line.'))),
    firmware_version: Type.Optional(Nullable(text(REGISTRATION_LIMITS.firmware_version, 'Single line.'))),
    location: Type.Optional(Nullable(text(REGISTRATION_LIMITS.location, 'Single line.'))),
    description: Type.Optional(Nullable(text(REGISTRATION_LIMITS.description, 'May span lines.'))),
  },
  { description: 'Sent at boot; other fields are not read.' },
);

const Amount = Type.Number({ minimum: -1e12, maximum: 1e12 });
const Millis = Type.Integer({ minimum: 0, maximum: TIMESTAMP_MAX });

export const EnergyDocument = Type.Object({
  device_id: Type.Optional(Type.String({ description: 'The path names the device when this is absent.' })),
  timestamp: Timestamp,
  power_management: Type.Object({
    enabled: Type.Boolean(),
    techniques: Type.String({
      pattern: '^0x[0-9a-fA-F]{1,8}$',
      description: 'a hexadecimal string such as "0x0F" (a string, as the firmware prints it)',
    }),
    avg_current_ma: Amount,
    energy_saved_mah: Amount,
    peripheral_savings_mah: Amount,
    uptime_ms: Millis,
    high_perf_ms: Millis,
    normal_ms: Millis,
    low_power_ms: Millis,
    sleep_ms: Millis,
  }),
});

export const FaultDocument = Type.Object({
  device_id: Type.String(),
  timestamp: Timestamp,
  fault_type: text(FAULT_TEXT_MAX, 'Single line.', 1),
  recovery_action: text(FAULT_TEXT_MAX, 'Single line.', 1),
  success: Type.Boolean(),
  details: Type.Optional(Nullable(text(FAULT_DETAILS_MAX, 'May span lines.'))),
  retry_count: Type.Integer({ minimum: 0, maximum: 255 }),
});

export const RegistrationAnswers = {
  200: Type.Object(
    { status: Type.Literal('registered'), device_id: Type.String() },
    { description: "A known device's registration, through the control-request guard." },
  ),
  201: Type.Object(
    { status: Type.Literal('pending'), device_id: Type.String(), message: Type.String() },
    { description: 'A bare registration for an id no device has: kept as pending.' },
  ),
};

export const ReportStored = Type.Object({
  status: Type.Literal('success'),
  device_id: Type.String(),
  report_id: Type.Integer(),
});
