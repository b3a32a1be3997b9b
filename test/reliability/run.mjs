#!/usr/bin/env node
/**
 * `npm run test:reliability [-- --quick] [-- --report] [vitest arguments]`: vitest refuses options
 * it does not know, so the suite's own are turned into environment variables here.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const own = new Set(['--quick', '--report']);
// Figures of this run only: another run in the same tree writes to a directory of its own.
const runDir = path.join(root, '.reliability', `run-${Date.now()}-${process.pid}`);
const child = spawn(
  process.execPath,
  [
    path.join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--config',
    'test/reliability/vitest.config.ts',
    ...args.filter((a) => !own.has(a)),
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      RELIABILITY_PROFILE: args.includes('--quick') ? 'quick' : 'full',
      RELIABILITY_REPORT: args.includes('--report') ? '1' : '',
      RELIABILITY_RUN_DIR: runDir,
    },
  },
);
child.on('exit', (code, signal) => {
  // Everything in it has been printed (and reported) by now.
  rmSync(runDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
