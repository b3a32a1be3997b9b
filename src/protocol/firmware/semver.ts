/**
 * Semantic versions (semver.org 2.0.0) as firmware versions. The reference server compared version
 * strings, so "1.0.10" sorted below "1.0.9" and any difference counted as an update (PROTOCOL.md
 * §8.12); here precedence decides, and build metadata never does.
 */

export interface Semver {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated pre-release identifiers; numeric ones as numbers. Empty for a release. */
  prerelease: readonly (string | number)[];
  build: readonly string[];
  /** The text as given. */
  text: string;
}

const IDENT = '(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)';
const SEMVER = new RegExp(
  `^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-(${IDENT}(?:\\.${IDENT})*))?(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?$`,
);

/** Longest version accepted: it ends up in file names and in the device's NVS. */
export const MAX_VERSION_LENGTH = 64;

export function parseSemver(text: string): Semver | undefined {
  if (typeof text !== 'string' || text.length > MAX_VERSION_LENGTH) return undefined;
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  const nums = [m[1], m[2], m[3]].map(Number);
  if (nums.some((n) => !Number.isSafeInteger(n))) return undefined;
  const prerelease = m[4] ? m[4].split('.').map((id) => (/^\d+$/.test(id) ? Number(id) : id)) : [];
  if (prerelease.some((id) => typeof id === 'number' && !Number.isSafeInteger(id))) return undefined;
  return {
    major: nums[0],
    minor: nums[1],
    patch: nums[2],
    prerelease,
    build: m[5] ? m[5].split('.') : [],
    text,
  };
}

const sign = (n: number): -1 | 0 | 1 => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareIdentifiers(a: string | number, b: string | number): -1 | 0 | 1 {
  if (typeof a === 'number' && typeof b === 'number') return sign(a - b);
  // Numeric identifiers always have lower precedence than alphanumeric ones.
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Precedence order: negative when `a` is older than `b`; build metadata is ignored. */
export function compareSemver(a: Semver, b: Semver): -1 | 0 | 1 {
  const core = sign(a.major - b.major) || sign(a.minor - b.minor) || sign(a.patch - b.patch);
  if (core !== 0) return core;
  // A pre-release is older than its release.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return sign(b.prerelease.length - a.prerelease.length);
  }
  const n = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const c = compareIdentifiers(a.prerelease[i], b.prerelease[i]);
    if (c !== 0) return c;
  }
  return sign(a.prerelease.length - b.prerelease.length);
}

/** Compares two version strings; `undefined` if either is not a semantic version. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  return pa && pb ? compareSemver(pa, pb) : undefined;
}
