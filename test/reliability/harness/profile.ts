/**
 * Quick (the CI slice: every case, small, under five minutes on a 2-core machine) or full (the
 * figures the report is made of). `test/reliability/run.mjs` sets the profile from `--quick`.
 */
import path from 'node:path';

export type Profile = 'quick' | 'full';

export const PROFILE: Profile = process.env.RELIABILITY_PROFILE === 'quick' ? 'quick' : 'full';

/** The value for the running profile. */
export function sized<T>(values: { quick: T; full: T }): T {
  return values[PROFILE];
}

export const ROOT = path.resolve(import.meta.dirname, '../../..');
/** Transient outputs of a run (figures, logs of failed servers); not committed. */
export const WORK_DIR = path.join(ROOT, '.reliability');
