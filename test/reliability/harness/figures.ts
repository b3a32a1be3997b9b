/**
 * Every case states its figures here as it measures them, before asserting: a failing run still
 * leaves the numbers that explain it. Figures go to JSON-lines files under `.reliability/` (test
 * files run in their own processes); the reporter turns them into the summary and the report.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORK_DIR } from './profile.js';
import { cpuPressure } from './sched-probe.js';

/**
 * One directory per run (set by `run.mjs`): several people work in this tree, and a second run
 * must neither wipe nor mix into the figures of one in progress.
 */
export const FIGURES_DIR = process.env.RELIABILITY_RUN_DIR ?? path.join(WORK_DIR, 'figures');

export interface Figure {
  case: string;
  name: string;
  value: number | string;
  unit?: string;
  /** The bound the case asserts, as text (`≤ 50`). */
  budget?: string;
  /** Met its budget; absent for figures that only inform. */
  ok?: boolean;
}

export interface Note {
  case: string;
  text: string;
}

/** A time series (the soak's throughput and memory), one object per sample. */
export interface Series {
  case: string;
  name: string;
  points: Record<string, number>[];
}

type Entry =
  | { kind: 'figure'; figure: Figure }
  | { kind: 'note'; note: Note }
  | { kind: 'series'; series: Series };

export function resetFigures(): void {
  rmSync(FIGURES_DIR, { recursive: true, force: true });
  mkdirSync(FIGURES_DIR, { recursive: true });
}

function append(caseName: string, entry: Entry): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  appendFileSync(path.join(FIGURES_DIR, `${caseName}.jsonl`), `${JSON.stringify(entry)}\n`);
}

export interface Bound {
  unit?: string;
  max?: number;
  min?: number;
}

export class CaseFigures {
  constructor(readonly caseName: string) {}

  /** A figure that only informs. */
  info(name: string, value: number | string, unit?: string): void {
    append(this.caseName, {
      kind: 'figure',
      figure: { case: this.caseName, name, value, ...(unit ? { unit } : {}) },
    });
  }

  /** A figure with its budget; returns whether it was met (the test asserts on the value). */
  bounded(name: string, value: number, bound: Bound): boolean {
    const parts: string[] = [];
    if (bound.min !== undefined) parts.push(`≥ ${bound.min}`);
    if (bound.max !== undefined) parts.push(`≤ ${bound.max}`);
    const ok =
      (bound.min === undefined || value >= bound.min) && (bound.max === undefined || value <= bound.max);
    append(this.caseName, {
      kind: 'figure',
      figure: {
        case: this.caseName,
        name,
        value,
        ...(bound.unit ? { unit: bound.unit } : {}),
        budget: parts.join(' and '),
        ok,
      },
    });
    return ok;
  }

  /**
   * The machine's 1-minute load average: the suite shares two cores with whatever else runs, and
   * a latency figure means little without it.
   */
  machineLoad(when: string): void {
    const pressure = cpuPressure();
    const load = os.loadavg()[0].toFixed(2);
    this.info(
      `machine load ${when}`,
      `load average ${load}${pressure !== undefined ? `, CPU pressure ${pressure} %` : ''}`,
    );
  }

  note(text: string): void {
    append(this.caseName, { kind: 'note', note: { case: this.caseName, text } });
  }

  series(name: string, points: Record<string, number>[]): void {
    writeFileSync(
      path.join(FIGURES_DIR, `${this.caseName}.${name}.series.json`),
      JSON.stringify({ case: this.caseName, name, points } satisfies Series),
    );
  }
}

export function readFigures(): { figures: Figure[]; notes: Note[]; series: Series[] } {
  const figures: Figure[] = [];
  const notes: Note[] = [];
  const series: Series[] = [];
  let files: string[];
  try {
    files = readdirSync(FIGURES_DIR).sort();
  } catch {
    return { figures, notes, series };
  }
  for (const f of files) {
    const text = readFileSync(path.join(FIGURES_DIR, f), 'utf8');
    if (f.endsWith('.series.json')) {
      series.push(JSON.parse(text) as Series);
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line) as Entry;
      if (e.kind === 'figure') figures.push(e.figure);
      else if (e.kind === 'note') notes.push(e.note);
    }
  }
  return { figures, notes, series };
}
