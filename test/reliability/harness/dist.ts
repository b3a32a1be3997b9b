/**
 * The compiled server modules. In-process cases load the app from `dist/` rather than from the
 * TypeScript sources: its SQLite writer runs in a worker thread that is started from a `.js`
 * file next to it, which exists only in the build (the same build the server process runs).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './profile.js';

export async function fromDist<T>(relative: string): Promise<T> {
  return (await import(pathToFileURL(path.join(ROOT, 'dist', relative)).href)) as T;
}

/** Settings that switch the rate limits off, for cases whose devices run faster than the field's. */
export const NO_RATE_LIMITS: Readonly<Record<string, string>> = {
  ECOWATT_RATE_LIMIT_SOURCE: 'off',
  ECOWATT_RATE_LIMIT_DEVICE: 'off',
};
