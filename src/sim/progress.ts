/**
 * Human-readable views of a simulation: a live progress block (uploads, answers by reason,
 * current rates) and the summary printed at the end. Pure text so the CLI decides where it goes.
 */
import type { ControlKind } from './control-link.js';
import type { ControlSummary } from './device-control.js';
import type { Gen13Summary } from './gen13-fleet.js';
import { MISBEHAVIOURS } from './misbehaviour.js';
import type { SimulationSummary } from './simulator.js';

/** What the previous progress block saw, to turn totals into rates. */
export interface ProgressMark {
  elapsedSeconds: number;
  sent: number;
  accepted: number;
}

const rate = (delta: number, seconds: number) => (seconds > 0 ? delta / seconds : 0).toFixed(1);

function reasons(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length > 0 ? entries.map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
}

/** Whether devices did anything besides uploading (so short runs stay as short as before). */
const controlActive = (c: ControlSummary) => Object.keys(c.requests).length > 0;

/** Kinds of control request in the order the summary lists them (1.3 kinds after e84f720's). */
const CONTROL_KINDS: readonly ControlKind[] = [
  'changes',
  'commands',
  'firmware',
  'boot',
  'registration',
  'config',
  'config_ack',
  'config_current',
  'energy',
  'fault',
];

/** One line of what generation 1.3 devices did besides uploading and control. */
export function gen13Line(g: Gen13Summary): string {
  return (
    `1.3 devices ${g.devices}: upload cycles ${g.uploadCycles} (retries ${g.retries}, failed ${g.failedCycles},` +
    ` oversized ${g.oversizedCycles})  energy reports ${g.energyReports}  fault reports ${g.faultReports}` +
    `  samples discarded ${g.discardedSamples}  reboots ${g.reboots}`
  );
}

/** One line of what devices did with configuration, commands and firmware. */
export function controlLine(c: ControlSummary): string {
  return (
    `config changes applied ${c.config.applied} (key rotations ${c.config.keyRotations})` +
    `  commands succeeded ${c.commands.succeeded} failed ${c.commands.failed}` +
    `  firmware updated ${c.firmware.updated} refused ${c.firmware.refused} errors ${c.firmware.errors}`
  );
}

export function progressLines(
  s: SimulationSummary,
  previous: ProgressMark | undefined,
): { lines: string[]; mark: ProgressMark } {
  const since = previous ?? { elapsedSeconds: 0, sent: 0, accepted: 0 };
  const dt = s.elapsedSeconds - since.elapsedSeconds;
  const refused = Object.values(s.rejected).reduce((n, k) => n + k, 0);
  const lines = [
    `${s.elapsedSeconds.toFixed(0).padStart(4)} s  uploads ${s.sent} (${rate(s.sent - since.sent, dt)}/s)` +
      `  accepted ${s.accepted} (${rate(s.accepted - since.accepted, dt)}/s)` +
      `  refused ${refused}  transport errors ${s.transportErrors}  p99 ${s.latencyMs.p99} ms`,
    `       refused by reason: ${reasons(s.rejected)}`,
    `       unexpected answers ${s.unexpected}  stuck devices ${s.stuckDevices}  lost packets ${s.lostPackets}`,
  ];
  if (controlActive(s.control)) lines.push(`       ${controlLine(s.control)}`);
  if (s.gen13) lines.push(`       ${gen13Line(s.gen13)}`);
  return { lines, mark: { elapsedSeconds: s.elapsedSeconds, sent: s.sent, accepted: s.accepted } };
}

export function summaryLines(s: SimulationSummary): string[] {
  const firmware = Object.entries(s.firmware)
    .sort((a, b) => b[1] - a[1])
    .map(([v, n]) => `${v} ×${n}`)
    .join(', ');
  const lines = [
    `devices ${s.devices} (firmware ${firmware || 'n/a'}), ${s.elapsedSeconds.toFixed(1)} s`,
    `uploads sent ${s.sent} (${s.rates.sentPerSecond}/s), accepted ${s.accepted} (${s.rates.acceptedPerSecond}/s), transport errors ${s.transportErrors}`,
    `rejected: ${Object.keys(s.rejected).length ? JSON.stringify(s.rejected) : 'none'}`,
    `latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
  ];
  const intents = (['valid', ...MISBEHAVIOURS] as const).filter((i) => s.byIntent[i]);
  if (intents.some((i) => i !== 'valid')) {
    lines.push('by kind of upload (answers; unexpected = not what the server must answer):');
    for (const i of intents) {
      const t = s.byIntent[i];
      if (!t) continue;
      lines.push(
        `  ${i.padEnd(10)} sent ${String(t.sent).padStart(6)}  unexpected ${t.unexpected}  ${reasons(t.outcomes)}`,
      );
    }
  }
  const c = s.control;
  if (controlActive(c)) {
    lines.push('control requests (answers):');
    for (const kind of CONTROL_KINDS) {
      const t = c.requests[kind];
      if (!t) continue;
      lines.push(
        `  ${kind.padEnd(14)} sent ${String(t.sent).padStart(6)}  unexpected ${t.unexpected}  ${reasons(t.outcomes)}`,
      );
    }
    lines.push(
      `configuration: ${c.config.changesReceived} answers with changes, ${c.config.applied} settings applied, ${c.config.keyRotations} keys rotated`,
      `commands run: succeeded ${c.commands.succeeded}, failed ${c.commands.failed}`,
      `firmware updates: updated ${c.firmware.updated}, refused ${c.firmware.refused}, cut short ${c.firmware.errors}`,
    );
  }
  if (s.gen13) lines.push(gen13Line(s.gen13));
  lines.push(`unexpected answers: ${s.unexpected}`);
  for (const e of s.unexpectedExamples) lines.push(`  ${e}`);
  if (s.stuckDevices > 0) {
    lines.push(`devices stuck by the 2048-byte buffer defect until reboot: ${s.stuckDevices}`);
  }
  lines.push(`packets lost in device ring buffers: ${s.lostPackets}`);
  return lines;
}
