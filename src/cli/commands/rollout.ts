/** `ecowatt rollout create|list|show|pause|resume|abort|group`: rollouts on a running server. */
import type { Command } from 'commander';
import { addClientOptions, adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';

type Opts = ClientOptions & Record<string, string | boolean | undefined>;

interface RolloutRow {
  id: number;
  version: string;
  state: string;
  state_reason: string | null;
  target: { kind: string; group?: string; devices?: string[]; steps?: number[] };
  step: { index: number; percent: number | null };
  pinned: boolean;
  counts: { sessions: number; succeeded: number; failed: number; in_flight: number };
  failure_rate: number | null;
}

const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};

function num(name: string, v: string | boolean | undefined, min: number, max: number): number | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new CliError(`--${name} takes a number from ${min} to ${max}`);
  return n;
}

function target(o: Opts): Record<string, unknown> {
  const chosen = [o.all, o.group, o.devices, o.percent].filter((x) => x !== undefined);
  if (chosen.length !== 1) throw new CliError('give exactly one of --all, --group, --devices, --percent');
  if (o.all) return { kind: 'all' };
  if (typeof o.group === 'string') return { kind: 'group', group: o.group };
  if (typeof o.devices === 'string')
    return { kind: 'devices', devices: o.devices.split(',').map((d) => d.trim()) };
  const steps = String(o.percent)
    .split(',')
    .map((s) => Number(s.trim()));
  if (steps.some((s) => !Number.isFinite(s)))
    throw new CliError('--percent takes percentages like 5,25,50,100');
  const wait = num('step-wait', o.stepWait, 0, 365 * 86_400);
  return { kind: 'percentage', steps, ...(wait !== undefined ? { step_wait_seconds: wait } : {}) };
}

function describeTarget(t: RolloutRow['target'], step: RolloutRow['step']): string {
  if (t.kind === 'group') return `group ${t.group}`;
  if (t.kind === 'devices') return `${t.devices?.length} devices`;
  if (t.kind === 'percentage') return `${step.percent} % (step ${step.index + 1} of ${t.steps?.length})`;
  return 'all';
}

export function registerRolloutCommand(program: Command): void {
  const rollout = program.command('rollout').description('which devices get which firmware version');

  addClientOptions(
    rollout
      .command('create')
      .description('start a rollout of a catalogued version')
      .requiredOption('--version <x.y.z>', 'catalogued firmware version')
      .option('--all', 'every device')
      .option('--group <name>', 'the devices of a group (ecowatt rollout group)')
      .option('--devices <ids>', 'these devices, comma-separated')
      .option('--percent <steps>', 'a share of the fleet growing by steps, e.g. 5,25,50,100')
      .option('--step-wait <seconds>', 'soak time before a percentage step grows (default 3600)')
      .option('--pin', 'offer this version even to devices on a newer one (deliberate downgrade)')
      .option('--failure-threshold <fraction>', 'halt when failures / outcomes passes this (default 0.2)')
      .option('--min-outcomes <n>', 'outcomes needed before the threshold applies (default 5)')
      .option('--reason <text>', 'why (audit log)'),
  ).action(
    guarded(async (o: Opts) => {
      const body: Record<string, unknown> = { version: o.version, target: target(o), pinned: o.pin === true };
      const threshold = num('failure-threshold', o.failureThreshold, 0, 1);
      if (threshold !== undefined) body.failure_threshold = threshold;
      const min = num('min-outcomes', o.minOutcomes, 1, 1_000_000);
      if (min !== undefined) body.min_outcomes = min;
      if (typeof o.reason === 'string') body.reason = o.reason;
      print(await adminRequest(o, 'POST', '/api/rollouts', body));
    }),
  );

  addClientOptions(
    rollout.command('list').description('list rollouts').option('--json', 'print JSON'),
  ).action(
    guarded(async (o: Opts) => {
      const res = (await adminRequest(o, 'GET', '/api/rollouts')) as { rollouts: RolloutRow[] };
      if (o.json) return print(res);
      process.stdout.write(
        `${['id', 'version', 'state', 'target', 'succeeded', 'failed', 'in_flight', 'reason'].join('\t')}\n`,
      );
      for (const r of res.rollouts) {
        process.stdout.write(
          `${[
            r.id,
            `${r.version}${r.pinned ? ' (pinned)' : ''}`,
            r.state,
            describeTarget(r.target, r.step),
            r.counts.succeeded,
            r.counts.failed,
            r.counts.in_flight,
            r.state_reason ?? '',
          ].join('\t')}\n`,
        );
      }
    }),
  );

  addClientOptions(rollout.command('show <id>').description('a rollout with its device sessions')).action(
    guarded(async (id: string, o: Opts) =>
      print(await adminRequest(o, 'GET', `/api/rollouts/${encodeURIComponent(id)}`)),
    ),
  );

  for (const action of ['pause', 'resume', 'abort'] as const) {
    addClientOptions(
      rollout.command(`${action} <id>`).description(`${action} a rollout`).option('--reason <text>', 'why'),
    ).action(
      guarded(async (id: string, o: Opts) => {
        const body = typeof o.reason === 'string' ? { reason: o.reason } : {};
        print(await adminRequest(o, 'POST', `/api/rollouts/${encodeURIComponent(id)}/${action}`, body));
      }),
    );
  }

  addClientOptions(
    rollout
      .command('group <name> [devices...]')
      .description('set the members of a rollout group (none: show the groups; --clear: delete it)')
      .option('--clear', 'remove every member'),
  ).action(
    guarded(async (name: string, devices: string[], o: Opts) => {
      if (devices.length === 0 && o.clear !== true) {
        const res = (await adminRequest(o, 'GET', '/api/rollout-groups')) as {
          groups: Record<string, string[]>;
        };
        return print({ group: name, devices: res.groups[name] ?? [] });
      }
      print(await adminRequest(o, 'PUT', `/api/rollout-groups/${encodeURIComponent(name)}`, { devices }));
    }),
  );
}
