/** The progress block and the summary show what generation 1.3 devices did, by kind of request. */
import { describe, expect, it } from 'vitest';
import { countAnswer } from '../../../src/sim/answers.js';
import { emptyControlSummary } from '../../../src/sim/device-control.js';
import { emptyGen13Summary } from '../../../src/sim/gen13-fleet.js';
import { progressLines, summaryLines } from '../../../src/sim/progress.js';
import type { SimulationSummary } from '../../../src/sim/simulator.js';

function summary(): SimulationSummary {
  const control = emptyControlSummary();
  countAnswer(control.requests, 'boot', '200', true);
  countAnswer(control.requests, 'registration', '201', true);
  countAnswer(control.requests, 'config', '200', true);
  countAnswer(control.requests, 'energy', '201', true);
  countAnswer(control.requests, 'fault', '403 control_source_mismatch', false);
  const gen13 = { ...emptyGen13Summary(2), uploadCycles: 7, retries: 1, energyReports: 3, faultReports: 0 };
  return {
    devices: 2,
    sent: 8,
    accepted: 7,
    rejected: { '500 storage_unavailable': 1 },
    transportErrors: 0,
    lostPackets: 0,
    elapsedSeconds: 10,
    latencyMs: { p50: 2, p99: 9.5, max: 12 },
    acknowledged: [],
    byIntent: { valid: { sent: 8, outcomes: { '200': 7, '500 storage_unavailable': 1 }, unexpected: 1 } },
    unexpected: 2,
    unexpectedExamples: [],
    stuckDevices: 0,
    firmware: { '1.3.4': 2 },
    rates: { sentPerSecond: 0.8, acceptedPerSecond: 0.7 },
    control,
    gen13,
  };
}

describe('1.3 devices in the progress display and the summary', () => {
  it('adds a line of what they did and lists their requests by kind with the answers', () => {
    const live = progressLines(summary(), undefined).lines;
    expect(live.at(-1)).toContain('1.3 devices 2: upload cycles 7 (retries 1, failed 0, oversized 0)');
    expect(live.at(-1)).toContain('energy reports 3');
    const text = summaryLines(summary()).join('\n');
    expect(text).toMatch(/boot +sent +1 +unexpected 0 +200 ×1/);
    expect(text).toMatch(/registration +sent +1 +unexpected 0 +201 ×1/);
    expect(text).toMatch(/fault +sent +1 +unexpected 1 +403 control_source_mismatch ×1/);
    expect(text).toContain('1.3 devices 2: upload cycles 7');
  });
});
