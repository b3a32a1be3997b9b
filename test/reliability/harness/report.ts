/**
 * Turns a run's figures and test results into the console summary and, with `--report`,
 * `docs/reliability-report.md` with the soak chart `docs/reliability-soak.png`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Figure, type Note, readFigures, type Series } from './figures.js';
import { type ChartPanel, renderChart } from './png.js';
import { PROFILE, ROOT } from './profile.js';

export interface TestOutcome {
  /** Case name: the test file's name without `.reliability.ts`. */
  caseName: string;
  test: string;
  state: string;
  durationMs: number;
  error?: string;
}

export const CASE_TITLES: Record<string, string> = {
  load: 'Load held',
  crash: 'Crash (kill -9 under load)',
  faults: 'Faults',
  abuse: 'Abuse',
  concurrency: 'Concurrency',
};

const CASE_ORDER = Object.keys(CASE_TITLES);

export const REPORT_FILE = path.join(ROOT, 'docs', 'reliability-report.md');
export const CHART_FILE = path.join(ROOT, 'docs', 'reliability-soak.png');

function caseIndex(name: string): number {
  const i = CASE_ORDER.indexOf(name);
  return i < 0 ? CASE_ORDER.length : i;
}

function formatValue(f: Figure): string {
  const v =
    typeof f.value === 'number' ? f.value.toLocaleString('en-US', { maximumFractionDigits: 2 }) : f.value;
  return f.unit ? `${v} ${f.unit}` : String(v);
}

function verdict(f: Figure): string {
  if (f.ok === undefined) return '';
  return f.ok ? 'met' : '**NOT MET**';
}

/** The console view: one line per figure, grouped by case. */
export function consoleSummary(outcomes: readonly TestOutcome[]): string {
  const { figures, notes } = readFigures();
  const lines = ['', `Reliability figures (profile ${PROFILE})`];
  const cases = [...new Set([...figures.map((f) => f.case), ...outcomes.map((o) => o.caseName)])].sort(
    (a, b) => caseIndex(a) - caseIndex(b),
  );
  for (const c of cases) {
    lines.push(`  ${CASE_TITLES[c] ?? c}`);
    for (const o of outcomes.filter((x) => x.caseName === c)) {
      lines.push(`    [${o.state}] ${o.test} (${(o.durationMs / 1000).toFixed(1)} s)`);
    }
    for (const f of figures.filter((x) => x.case === c)) {
      const budget = f.budget
        ? `  (budget ${f.budget}${f.unit ? ` ${f.unit}` : ''}: ${f.ok ? 'met' : 'NOT MET'})`
        : '';
      lines.push(`      ${f.name}: ${formatValue(f)}${budget}`);
    }
    for (const n of notes.filter((x) => x.case === c)) lines.push(`      note: ${n.text}`);
  }
  return `${lines.join('\n')}\n`;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

function soakChart(series: readonly Series[]): ChartPanel[] | undefined {
  const soak = series.find((s) => s.case === 'load' && s.name === 'soak');
  if (!soak || soak.points.length < 2) return undefined;
  const pts = (key: string) =>
    soak.points.filter((p) => Number.isFinite(p[key])).map((p) => [p.t, p[key]] as const);
  return [
    {
      title: 'UPLOADS/S',
      fromZero: true,
      series: [
        { label: 'SENT', color: [160, 160, 160], points: pts('sentPerSecond') },
        { label: 'ACCEPTED', color: [30, 110, 200], points: pts('acceptedPerSecond') },
      ],
    },
    {
      title: 'SERVER RSS MIB',
      series: [{ label: 'RSS', color: [200, 70, 40], points: pts('rssMiB') }],
    },
    {
      title: 'P99 LATENCY MS (PER SECOND)',
      fromZero: true,
      series: [{ label: 'P99', color: [40, 150, 80], points: pts('p99Ms') }],
    },
  ];
}

function figureTable(figures: readonly Figure[]): string[] {
  if (figures.length === 0) return ['_No figures recorded (the case did not run this far)._'];
  const out = ['| figure | value | budget | |', '|---|---:|---|---|'];
  for (const f of figures) {
    const budget = f.budget ? `${f.budget}${f.unit ? ` ${f.unit}` : ''}` : '';
    out.push(`| ${f.name} | ${formatValue(f)} | ${budget} | ${verdict(f)} |`);
  }
  return out;
}

export function writeReport(outcomes: readonly TestOutcome[]): void {
  const { figures, notes, series } = readFigures();
  mkdirSync(path.dirname(REPORT_FILE), { recursive: true });
  const panels = soakChart(series);
  if (panels) writeFileSync(CHART_FILE, renderChart(panels, { xLabel: 'SECONDS' }).png());
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain']).length > 0;
  const passed = outcomes.filter((o) => o.state === 'passed').length;
  const failed = outcomes.filter((o) => o.state === 'failed').length;
  const lines: string[] = [
    '# EcoWatt Cloud reliability report',
    '',
    `Written by \`npm run test:reliability -- --report${PROFILE === 'quick' ? ' --quick' : ''}\` ` +
      `(profile **${PROFILE}**) on ${new Date().toISOString()}, commit \`${commit || 'unknown'}\`` +
      `${dirty ? ' with uncommitted changes' : ''}.`,
    `Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `${os.type()} ${os.release()}. The load generator, the fuzzer and the server share these cores.`,
    '',
    'Every case runs the real server (`dist/src/main.js`) as a child process on 127.0.0.1 and',
    'states its figures before asserting them; the suite is `test/reliability/` (see',
    'docs/reliability.md). Budgets are the bounds the tests assert.',
    '',
    `**${passed} passed, ${failed} failed** of ${outcomes.length} tests.`,
    '',
    '| case | test | result | time |',
    '|---|---|---|---:|',
  ];
  const sorted = [...outcomes].sort((a, b) => caseIndex(a.caseName) - caseIndex(b.caseName));
  for (const o of sorted) {
    const state = o.state === 'failed' ? '**failed**' : o.state;
    lines.push(
      `| ${CASE_TITLES[o.caseName] ?? o.caseName} | ${o.test} | ${state} | ${(o.durationMs / 1000).toFixed(1)} s |`,
    );
  }
  const cases = [...new Set([...CASE_ORDER, ...figures.map((f) => f.case)])];
  for (const c of cases) {
    const mine = figures.filter((f) => f.case === c);
    const myNotes = notes.filter((n: Note) => n.case === c);
    const myTests = outcomes.filter((o) => o.caseName === c);
    if (mine.length === 0 && myNotes.length === 0 && myTests.length === 0) continue;
    lines.push('', `## ${CASE_TITLES[c] ?? c}`, '');
    lines.push(...figureTable(mine));
    if (myNotes.length > 0) lines.push('', ...myNotes.map((n) => `- ${n.text}`));
    for (const o of myTests.filter((t) => t.error)) {
      lines.push('', `Failure in “${o.test}”:`, '', '```', (o.error ?? '').slice(0, 2000), '```');
    }
    if (c === 'load' && panels) {
      lines.push(
        '',
        '![Throughput, server memory and p99 latency over the soak](reliability-soak.png)',
        '',
        'Throughput (uploads sent and accepted per second), the server’s resident memory and the',
        'p99 latency of each second of the soak.',
      );
    }
  }
  writeFileSync(REPORT_FILE, `${lines.join('\n')}\n`);
}
