/**
 * Why here: configuration and command validation both answer with per-field messages, and the
 * configuration store returns them from its transaction; one shape below all three, so commands
 * and ports need not import the configuration feature to name it.
 */

/** Field name → what is wrong with it. */
export type FieldErrors = Record<string, string>;
