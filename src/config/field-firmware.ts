/**
 * What the e84f720 field firmware can do with each configuration key (PROTOCOL.md §1.2, §5.3),
 * so the operator is told the truth instead of seeing a change that can never happen reported as
 * pending forever, or as applied.
 */
import type { ConfigKey } from '../model/config.js';

export const FIELD_FIRMWARE = 'e84f720';

/**
 * `changes`: delivered by `/changes` and seen in the device's cadence once applied.
 * `stored-never-applied`: delivered once; the device stores it but never uses it.
 * `none`: the firmware has no such setting.
 */
export type KeySupport = 'changes' | 'stored-never-applied' | 'none';

export const FIELD_SUPPORT: Readonly<Record<ConfigKey, KeySupport>> = {
  sampling_interval: 'changes',
  upload_interval: 'changes',
  registers: 'stored-never-applied',
  firmware_check_interval: 'none',
  command_poll_interval: 'none',
  config_poll_interval: 'none',
  energy_poll_interval: 'none',
  power_management: 'none',
};

export const UNSUPPORTED_NOTES: Readonly<Partial<Record<ConfigKey, string>>> = {
  registers:
    'e84f720 stores a new selection in NVS but never uses it (reg_count is never written and the loop ' +
    'assigns to a shadowing local, PROTOCOL.md §5.3): it keeps reading Vac1, Iac1, Ipv1, Pac, Ipv2, Temp. ' +
    'The selection is delivered once, not re-offered.',
  firmware_check_interval: 'e84f720 has no such setting: it checks for firmware every 60 s (§1.2).',
  command_poll_interval: 'e84f720 has no such setting: it does not poll for commands.',
  config_poll_interval: 'e84f720 has no such setting: it asks /changes every 5 s (§1.2).',
  energy_poll_interval: 'e84f720 has no such setting.',
  power_management: 'e84f720 has no such setting.',
};
