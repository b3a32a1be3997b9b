import { describe, expect, it } from 'vitest';
import { compareSemver, compareVersions, parseSemver } from '../../../../src/protocol/firmware/semver.js';

describe('semantic versions', () => {
  it('orders 1.0.10 after 1.0.9 (the reference sorted strings)', () => {
    expect(compareVersions('1.0.10', '1.0.9')).toBe(1);
    expect(compareVersions('1.0.9', '1.0.10')).toBe(-1);
    expect(['1.0.9', '1.0.10', '1.0.2'].sort()).toEqual(['1.0.10', '1.0.2', '1.0.9']);
  });

  it('follows the semver.org precedence example, pre-releases included', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '2.0.0',
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(compareVersions(ordered[i], ordered[j]), `${ordered[i]} vs ${ordered[j]}`).toBe(
          Math.sign(i - j),
        );
      }
    }
  });

  it('ignores build metadata for precedence', () => {
    expect(compareVersions('1.0.4+build.7', '1.0.4')).toBe(0);
    expect(parseSemver('1.0.4+build.7')?.build).toEqual(['build', '7']);
  });

  it('refuses what is not a semantic version', () => {
    for (const bad of [
      '1.0',
      'v1.0.3',
      '01.0.0',
      '1.0.0-',
      '1.0.0-01',
      '1.0.0+',
      '',
      ' 1.0.0',
      '1.0.0.0',
      `1.0.${'9'.repeat(70)}`,
    ]) {
      expect(parseSemver(bad), bad).toBeUndefined();
    }
    expect(compareVersions('1.0.3', 'latest')).toBeUndefined();
  });

  it('parses the parts', () => {
    const v = parseSemver('1.2.3-rc.4')!;
    expect([v.major, v.minor, v.patch, v.prerelease]).toEqual([1, 2, 3, ['rc', 4]]);
    expect(compareSemver(v, parseSemver('1.2.3-rc.10')!)).toBe(-1);
  });
});
