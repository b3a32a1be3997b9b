/**
 * The README and docs/ stay true: every error code and setting documented, the two commands a new
 * user runs shown, the README short, every relative link and #anchor resolving, and every
 * `ecowatt …` command line shown being a real command.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/model/errors.js';
import { SETTINGS_TABLE } from '../../src/settings/specs.js';
import { ROOT } from '../helpers/server-process.js';

const run = promisify(execFile);

const pages = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = new Map(pages.map((p) => [p, readFileSync(path.join(ROOT, p), 'utf8')]));
const readme = text.get('README.md') as string;
const all = [...text.values()].join('\n');

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replaceAll(' ', '-');

/** Lines outside fenced code blocks, and the blocks' lines, apart. */
function split(markdown: string): { prose: string[]; code: string[] } {
  const prose: string[] = [];
  const code: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else (fenced ? code : prose).push(line);
  }
  return { prose, code };
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of split(markdown).prose) {
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = slug((m[1] as string).replaceAll('`', ''));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('README and docs stay true', () => {
  it('documents every error code with its status', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(all, code).toMatch(new RegExp(`\\|\\s*${status}\\s*\\|\\s*\`${code}\`\\s*\\|`));
    }
  });

  it('documents every setting', () => {
    for (const s of SETTINGS_TABLE) expect(all, s.env).toContain(`\`${s.env}\``);
  });

  it('shows the two commands a new user runs, in a README of at most ~15 KB', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15 * 1024);
  });

  it('starts every page of docs/ with what a reader can do after reading it', () => {
    const topics = pages.filter((p) => p.startsWith('docs/') && !['docs/reliability-report.md'].includes(p));
    for (const p of topics)
      expect((text.get(p) as string).split('\n').slice(0, 4).join(' '), p).toMatch(
        /After reading this you can/,
      );
  });

  it('has every relative link and #anchor resolve', () => {
    const broken: string[] = [];
    for (const [page, markdown] of text) {
      const prose = split(markdown)
        .prose.join('\n')
        .replace(/`[^`]*`/g, '');
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? page : path.normalize(path.join(path.dirname(page), file));
        const abs = path.join(ROOT, resolved);
        if (!existsSync(abs)) {
          broken.push(`${page}: ${target} (no ${resolved})`);
          continue;
        }
        if (anchor !== undefined) {
          const into = text.get(resolved) ?? (resolved.endsWith('.md') ? readFileSync(abs, 'utf8') : '');
          if (!anchors(into).has(anchor)) broken.push(`${page}: ${target} (no #${anchor} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('shows only real ecowatt commands', async () => {
    // `ecowatt <words>` up to the first option, placeholder or argument-looking word.
    const commands = new Set<string>();
    for (const markdown of text.values()) {
      const { prose, code } = split(markdown);
      const shown = [
        ...code,
        ...prose.flatMap((l) => [...l.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)),
      ];
      for (const line of shown) {
        const m = /(?:^|\s|npx )ecowatt ((?:[a-z][a-z0-9-]*)(?: [a-z][a-z0-9-]*)?)/.exec(line);
        if (m) commands.add((m[1] as string).trim());
      }
    }
    expect(commands.size).toBeGreaterThan(20);
    const failed: string[] = [];
    const help = async (words: string[]) =>
      run(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), ...words, '--help']).then(
        (r) => r.stdout,
        () => null,
      );
    const check = async (c: string) => {
      const words = c.split(' ');
      // The second word may be an argument (`ecowatt decode packets`): then the first must stand alone.
      const out = (await help(words)) ?? (words.length > 1 ? await help(words.slice(0, 1)) : null);
      if (out === null || !out.startsWith('Usage: ecowatt')) failed.push(c);
      else if (words.length > 1 && !out.startsWith(`Usage: ecowatt ${c}`) && /\nCommands:\n/.test(out))
        failed.push(c);
    };
    const queue = [...commands];
    const worker = async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) await check(c);
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(failed).toEqual([]);
  }, 120_000);
});
