/**
 * The layering docs/architecture.md promises, checked on the source itself: no import cycle
 * between folders of `src/`, ports and the model at the bottom, the MQTT runtime free of
 * adapters, and the composition root the only place that knows which adapters run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server-process.js';

const SRC = path.join(ROOT, 'src');

interface Import {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import in src/, as paths relative to src/ (`.js` specifiers name `.ts` files). */
function imports(): Import[] {
  return sourceFiles(SRC).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)].map((m) => ({
      from: path.relative(SRC, file),
      to: path.relative(SRC, path.resolve(path.dirname(file), (m[1] as string).replace(/\.js$/, '.ts'))),
    }));
  });
}

/** A file's top folder in src/ (`.` for the entry points at the top). */
const folderOf = (file: string): string =>
  file.includes(path.sep) ? (file.split(path.sep)[0] as string) : '.';

/** Folders that reach each other through imports (strongly connected groups of more than one). */
function folderCycles(edges: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w !== undefined) group.push(w);
      } while (w !== v && w !== undefined);
      if (group.length > 1) groups.push(group.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return groups;
}

describe('architecture', () => {
  const all = imports();
  const between = all.filter((i) => folderOf(i.from) !== folderOf(i.to));

  it('has no import cycle between the folders of src/', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of between) {
      const set = edges.get(folderOf(i.from)) ?? new Set<string>();
      set.add(folderOf(i.to));
      edges.set(folderOf(i.from), set);
    }
    const cycles = folderCycles(edges);
    const explain = cycles.map((group) =>
      between
        .filter((i) => group.includes(folderOf(i.from)) && group.includes(folderOf(i.to)))
        .map((i) => `${i.from} -> ${i.to}`),
    );
    expect(explain).toEqual([]);
  });

  it('keeps the model and the protocol at the bottom and ports just above them', () => {
    const reach = (folder: string) => [
      ...new Set(between.filter((i) => folderOf(i.from) === folder).map((i) => folderOf(i.to))),
    ];
    expect(reach('model')).toEqual([]);
    expect(reach('protocol')).toEqual([]);
    expect(reach('ports').filter((f) => f !== 'model' && f !== 'protocol')).toEqual([]);
  });

  it('gives the MQTT runtime and the capabilities no adapter: only the composition root picks them', () => {
    const toAdapters = between.filter((i) => folderOf(i.to) === 'adapters').map((i) => i.from);
    expect(toAdapters.every((f) => folderOf(f) === '.' || folderOf(f) === 'cli')).toBe(true);
    expect(readFileSync(path.join(SRC, 'app.ts'), 'utf8')).not.toMatch(/\binstanceof\b/);
  });
});
