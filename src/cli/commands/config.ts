/** `ecowatt config …`: remote configuration through the admin API of a running server. */
import type { Command } from 'commander';
import { addClientOptions, adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';
import { parseKeyValues } from '../key-values.js';

type Opts = ClientOptions & { fleet?: boolean; json?: boolean; reason?: string; limit?: string };

const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};
const enc = encodeURIComponent;
const show = (v: unknown): string =>
  v === undefined || v === null ? '-' : Array.isArray(v) ? v.join(',') : String(v);

interface KeyRow {
  desired: unknown;
  source: string;
  state: string;
  running: unknown;
  offers: number;
  note?: string;
}

interface VersionRow {
  version: number;
  scope: string;
  device_id?: string;
  changes: Record<string, unknown>;
  actor: string;
  reason: string | null;
  source: string;
  time: string;
}

/** The device id, or the fleet with --fleet: exactly one of them. */
function target(id: string | undefined, o: Opts): string {
  if (o.fleet && id !== undefined) throw new CliError('give a device id or --fleet, not both');
  if (!o.fleet && id === undefined) throw new CliError('give a device id, or --fleet for the fleet default');
  return o.fleet ? '/api/fleet/config' : `/api/devices/${enc(id as string)}/config`;
}

function printVersions(versions: VersionRow[]): void {
  for (const v of versions) {
    const changes = Object.entries(v.changes)
      .map(([k, x]) => `${k}=${show(x)}`)
      .join(' ');
    const scope = v.scope === 'fleet' ? 'fleet' : (v.device_id ?? 'device');
    const why = v.reason ? ` (${v.reason})` : '';
    process.stdout.write(`v${v.version}\t${v.time}\t${v.actor}/${v.source}\t${scope}\t${changes}${why}\n`);
  }
}

export function registerConfigCommand(program: Command): void {
  const config = program
    .command('config')
    .description('remote configuration of devices (fleet default and per-device overrides)');

  addClientOptions(
    config
      .command('show [id]')
      .description("a device's desired, running and per-key state (or the fleet default with --fleet)")
      .option('--fleet', 'the fleet default')
      .option('--json', 'print JSON'),
  ).action(
    guarded(async (id: string | undefined, o: Opts) => {
      const res = await adminRequest(o, 'GET', target(id, o));
      if (o.json || o.fleet) return print(res);
      const view = res as { device_id: string; version: number; state: string; keys: Record<string, KeyRow> };
      process.stdout.write(`${view.device_id}: version ${view.version}, ${view.state}\n`);
      process.stdout.write(`${['key', 'desired', 'source', 'state', 'running', 'offers'].join('\t')}\n`);
      for (const [key, k] of Object.entries(view.keys)) {
        const row = [key, show(k.desired), k.source, k.state, show(k.running), String(k.offers)].join('\t');
        process.stdout.write(`${row}\n${k.note ? `  ${k.note}\n` : ''}`);
      }
    }),
  );

  addClientOptions(
    config
      .command('set [id] [pairs...]')
      .description('change keys: key=value … (null or inherit removes an override), e.g. upload_interval=30')
      .option('--fleet', 'change the fleet default instead of one device')
      .option('--reason <text>', 'why (kept with the version)'),
  ).action(
    guarded(async (id: string | undefined, pairs: string[], o: Opts) => {
      // With --fleet the first key=value lands in [id].
      const all = o.fleet && id !== undefined ? [id, ...pairs] : pairs;
      const body = parseKeyValues(all, ['registers']);
      if (Object.keys(body).length === 0) throw new CliError('name at least one key=value');
      if (o.reason) body.reason = o.reason;
      print(await adminRequest(o, 'PUT', target(o.fleet ? undefined : id, o), body));
    }),
  );

  addClientOptions(
    config
      .command('history [id]')
      .description("configuration versions affecting a device (the fleet's and its own), newest first")
      .option('--fleet', "the fleet default's versions only")
      .option('--limit <n>', 'most versions to show (50)')
      .option('--json', 'print JSON'),
  ).action(
    guarded(async (id: string | undefined, o: Opts) => {
      const limit = o.limit ? `?limit=${enc(o.limit)}` : '';
      const res = (await adminRequest(o, 'GET', `${target(id, o)}/history${limit}`)) as {
        versions: VersionRow[];
      };
      if (o.json) return print(res);
      printVersions(res.versions);
    }),
  );

  addClientOptions(
    config
      .command('withdraw <id>')
      .description('withdraw what the device has not applied yet (pins it to what it runs)')
      .option('--reason <text>', 'why'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const body = o.reason ? { reason: o.reason } : {};
      print(await adminRequest(o, 'POST', `/api/devices/${enc(id)}/config/withdraw`, body));
    }),
  );
}
