/** `ecowatt command …`: control commands through the admin API of a running server. */
import type { Command } from 'commander';
import { addClientOptions, adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';
import { parseKeyValues } from '../key-values.js';

type Opts = ClientOptions & {
  json?: boolean;
  reason?: string;
  status?: string;
  limit?: string;
  leaseSeconds?: string;
  maxAttempts?: string;
};

const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};
const enc = encodeURIComponent;

interface CommandRow {
  id: string;
  type: string;
  params: Record<string, number>;
  status: string;
  attempts: number;
  max_attempts: number;
  created_at: string;
  detail: string | null;
}

function integerOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`--${name} takes a whole number`);
  return Number(v);
}

export function registerCommandCommand(program: Command): void {
  const command = program.command('command').description('control commands for devices (export power limit)');

  addClientOptions(
    command
      .command('send <id> <type> [params...]')
      .description(
        'queue a command: write_register register=Pow value=50 | set_power_percentage percentage=50 | set_power power_value=5000',
      )
      .option('--reason <text>', 'why (audited)')
      .option('--lease-seconds <n>', 'how long the device has to report a result before it is offered again')
      .option('--max-attempts <n>', 'deliveries before the command expires'),
  ).action(
    guarded(async (id: string, type: string, params: string[], o: Opts) => {
      const body: Record<string, unknown> = { type, ...parseKeyValues(params) };
      if (o.reason) body.reason = o.reason;
      const lease = integerOption('lease-seconds', o.leaseSeconds);
      if (lease !== undefined) body.lease_seconds = lease;
      const attempts = integerOption('max-attempts', o.maxAttempts);
      if (attempts !== undefined) body.max_attempts = attempts;
      print(await adminRequest(o, 'POST', `/api/devices/${enc(id)}/commands`, body));
    }),
  );

  addClientOptions(
    command
      .command('list <id>')
      .description("a device's commands, newest first")
      .option('--status <s>', 'pending | in_flight | succeeded | failed | cancelled | expired')
      .option('--limit <n>', 'most commands to show (100)')
      .option('--json', 'print JSON'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const q = new URLSearchParams();
      if (o.status) q.set('status', o.status);
      if (o.limit) q.set('limit', o.limit);
      const query = q.size > 0 ? `?${q}` : '';
      const res = (await adminRequest(o, 'GET', `/api/devices/${enc(id)}/commands${query}`)) as {
        commands: CommandRow[];
      };
      if (o.json) return print(res);
      process.stdout.write(
        `${['id', 'type', 'params', 'status', 'attempts', 'created_at', 'detail'].join('\t')}\n`,
      );
      for (const c of res.commands) {
        const params = Object.entries(c.params)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        const row = [
          c.id,
          c.type,
          params,
          c.status,
          `${c.attempts}/${c.max_attempts}`,
          c.created_at,
          c.detail ?? '-',
        ];
        process.stdout.write(`${row.join('\t')}\n`);
      }
    }),
  );

  addClientOptions(
    command
      .command('cancel <id> <command-id>')
      .description('cancel a command the device has not received (a cancelled command is never delivered)')
      .option('--reason <text>', 'why (audited)'),
  ).action(
    guarded(async (id: string, commandId: string, o: Opts) => {
      const body = o.reason ? { reason: o.reason } : {};
      print(await adminRequest(o, 'DELETE', `/api/devices/${enc(id)}/commands/${enc(commandId)}`, body));
    }),
  );
}
