/**
 * `npm ci` on the Node versions `engines` promises prints no EBADENGINE warning: every package in
 * the lock file accepts the oldest of them and the one running the tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/server-process.js';

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as Lock;

describe('engines', () => {
  const oldest = semver.minVersion(pkg.engines.node)?.version ?? '';

  it('promises Node 20.19 or later', () => {
    expect(oldest).toBe('20.19.0');
  });

  it.each([
    ['the oldest promised Node', oldest],
    ['this Node', process.versions.node],
  ])('has no dependency that refuses %s', (_what, version) => {
    const refusing = Object.entries(lock.packages)
      .map(([where, p]) => ({ where, range: Array.isArray(p.engines) ? undefined : p.engines?.node }))
      .filter((p): p is { where: string; range: string } => typeof p.range === 'string')
      .filter((p) => !semver.satisfies(version, p.range))
      .map((p) => `${p.where} wants node ${p.range}`);
    expect(refusing).toEqual([]);
  });
});
