/** Runs once before the suite: a run's figures start from nothing. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { resetFigures } from './figures.js';
import { ROOT } from './profile.js';

export default function setup(): void {
  if (!existsSync(path.join(ROOT, 'dist/src/main.js'))) {
    throw new Error('dist/src/main.js is missing: run `npm run build` before the reliability suite');
  }
  resetFigures();
}
