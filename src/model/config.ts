/**
 * The remote-configuration vocabulary: its keys and values, a change to a scope, and what is
 * recorded about a device (what it was answered, what it reported, its recent uploads). Why here:
 * the configuration store port, the configuration feature, the MQTT settings path, the adapters
 * and the web dashboard all name these; at the bottom of the source tree so the port never
 * imports the feature that depends on it. Ranges and validation stay in `config/config-schema.ts`.
 */

export const INTERVAL_KEYS = [
  'sampling_interval',
  'upload_interval',
  'firmware_check_interval',
  'command_poll_interval',
  'config_poll_interval',
  'energy_poll_interval',
] as const;

export type IntervalKey = (typeof INTERVAL_KEYS)[number];

export const CONFIG_KEYS = [
  'sampling_interval',
  'upload_interval',
  'registers',
  'firmware_check_interval',
  'command_poll_interval',
  'config_poll_interval',
  'energy_poll_interval',
  'power_management',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** A desired configuration: intervals in whole seconds, registers in REGISTER_MAP spelling. */
export type DeviceConfig = { [K in IntervalKey]?: number } & {
  registers?: string[];
  power_management?: boolean;
};

export type ConfigValue = number | boolean | string[];

/** A change to one scope (fleet or device): `null` removes the key from that scope. */
export type ConfigPatch = Partial<Record<ConfigKey, ConfigValue | null>>;

/** The last value a device was answered with for one key. */
export interface Delivery {
  value: ConfigValue;
  version: number;
  /** First answer carrying this value: the device can only have applied it after this. */
  firstAt: number;
  lastAt: number;
  offers: number;
}

/** What a generation 1.3 device last said about one key. */
export interface ConfigReport {
  value: ConfigValue;
  /** `running`: it runs `value`; `failed`: it acknowledged `value` as failed. */
  outcome: 'running' | 'failed';
  basis: 'reported at boot' | 'acknowledged';
  at: number;
}

/** One accepted upload as the cadence needs it (`config/observed-cadence.ts`). */
export interface UploadTrace {
  /** Server receive time, ms since the epoch. */
  receivedAt: number;
  /** The upload's `timestamp` (device millis since boot). */
  deviceTimestamp: number | null;
  /** Each packet's device millis, in upload order. */
  packetTimestamps: readonly (number | null)[];
}
