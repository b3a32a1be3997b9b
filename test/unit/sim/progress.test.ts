import { describe, expect, it } from 'vitest';
import { emptyControlSummary } from '../../../src/sim/device-control.js';
import { progressLines, summaryLines } from '../../../src/sim/progress.js';
import type { SimulationSummary } from '../../../src/sim/simulator.js';

function summary(extra: Partial<SimulationSummary> = {}): SimulationSummary {
  return {
    devices: 3,
    sent: 100,
    accepted: 90,
    rejected: { '401 replayed_nonce': 6, '400 malformed_json': 4 },
    transportErrors: 0,
    lostPackets: 2,
    elapsedSeconds: 10,
    latencyMs: { p50: 2, p99: 9.5, max: 12 },
    acknowledged: [],
    byIntent: {
      valid: { sent: 90, outcomes: { '200': 90 }, unexpected: 0 },
      replay: { sent: 6, outcomes: { '401 replayed_nonce': 6 }, unexpected: 0 },
      truncated: { sent: 4, outcomes: { '400 malformed_json': 4 }, unexpected: 0 },
    },
    unexpected: 0,
    unexpectedExamples: [],
    stuckDevices: 1,
    firmware: { '1.2.0': 2, e84f720: 1 },
    rates: { sentPerSecond: 10, acceptedPerSecond: 9 },
    control: emptyControlSummary(),
    ...extra,
  };
}

describe('progress display', () => {
  it('shows totals, rates since the last block and refusals by reason', () => {
    const first = progressLines(summary(), undefined);
    expect(first.lines[0]).toContain('uploads 100 (10.0/s)');
    expect(first.lines[0]).toContain('accepted 90 (9.0/s)');
    expect(first.lines[0]).toContain('refused 10');
    expect(first.lines[1]).toContain('401 replayed_nonce ×6');
    expect(first.lines[2]).toContain('stuck devices 1');
    const next = progressLines(summary({ elapsedSeconds: 12, sent: 140, accepted: 130 }), first.mark);
    expect(next.lines[0]).toContain('uploads 140 (20.0/s)');
    expect(next.lines[0]).toContain('accepted 130 (20.0/s)');
  });

  it('summarises by kind of upload when devices misbehave', () => {
    const text = summaryLines(summary()).join('\n');
    expect(text).toContain('firmware 1.2.0 ×2, e84f720 ×1');
    expect(text).toMatch(/replay\s+sent\s+6\s+unexpected 0\s+401 replayed_nonce ×6/);
    expect(text).toContain('unexpected answers: 0');
    expect(text).toContain('stuck by the 2048-byte buffer defect');
  });

  it('stays short for a well-behaved fleet', () => {
    const text = summaryLines(
      summary({ byIntent: { valid: { sent: 1, outcomes: { '200': 1 }, unexpected: 0 } }, stuckDevices: 0 }),
    );
    expect(text.join('\n')).not.toContain('by kind of upload');
    expect(text.join('\n')).not.toContain('stuck');
    expect(text.join('\n')).not.toContain('control requests');
    expect(progressLines(summary(), undefined).lines).toHaveLength(3);
  });

  it('counts configuration, commands and firmware updates once devices do more than upload', () => {
    const control = emptyControlSummary();
    control.requests = {
      changes: { sent: 40, outcomes: { '200': 40 }, unexpected: 0 },
      commands: { sent: 12, outcomes: { '200': 11, '401 replayed_nonce': 1 }, unexpected: 0 },
      firmware: { sent: 9, outcomes: { '200': 9 }, unexpected: 0 },
    };
    control.config = { changesReceived: 6, applied: 4, keyRotations: 1 };
    control.commands = { succeeded: 3, failed: 1 };
    control.firmware = { updated: 2, refused: 1, errors: 0 };
    const live = progressLines(summary({ control }), undefined).lines;
    expect(live[3]).toContain('config changes applied 4 (key rotations 1)');
    expect(live[3]).toContain('commands succeeded 3 failed 1');
    expect(live[3]).toContain('firmware updated 2 refused 1 errors 0');
    const text = summaryLines(summary({ control })).join('\n');
    expect(text).toMatch(/commands\s+sent\s+12\s+unexpected 0\s+200 ×11, 401 replayed_nonce ×1/);
    expect(text).toContain('configuration: 6 answers with changes, 4 settings applied, 1 keys rotated');
    expect(text).toContain('commands run: succeeded 3, failed 1');
    expect(text).toContain('firmware updates: updated 2, refused 1, cut short 0');
  });
});
