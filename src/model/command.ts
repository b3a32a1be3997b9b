/**
 * Why here: the command types are stored by the command port and validated by
 * `commands/command-schema.ts` (also in the web dashboard); defined below both so the port does
 * not import the feature that depends on it.
 */

export const COMMAND_TYPES = ['write_register', 'set_power_percentage', 'set_power'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];
