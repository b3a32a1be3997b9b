/**
 * Vitest reporter of the reliability suite: after the run, prints every case's figures next to
 * its test results and, with `--report`, writes the Markdown report and the soak chart.
 */
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { consoleSummary, REPORT_FILE, type TestOutcome, writeReport } from './report.js';

export default class ReliabilityReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const outcomes: TestOutcome[] = [];
    for (const m of testModules) {
      const caseName = path.basename(m.moduleId).replace(/\.reliability\.ts$/, '');
      for (const t of m.children.allTests()) {
        const result = t.result();
        const error = result.state === 'failed' ? result.errors.map((e) => e.message).join('\n') : undefined;
        outcomes.push({
          caseName,
          test: t.fullName,
          state: result.state,
          durationMs: t.diagnostic()?.duration ?? 0,
          ...(error ? { error } : {}),
        });
      }
    }
    process.stdout.write(consoleSummary(outcomes));
    if (process.env.RELIABILITY_REPORT) {
      writeReport(outcomes);
      process.stdout.write(`report written to ${path.relative(process.cwd(), REPORT_FILE)}\n`);
    }
  }
}
