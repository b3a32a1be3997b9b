/** `ecowatt device …`: the device registry through the admin API of a running server. */
import type { Command } from 'commander';
import { addClientOptions, adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';

type Opts = ClientOptions & Record<string, string | boolean | undefined>;

const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};
const enc = encodeURIComponent;

function parseBool(name: string, v: string | boolean | undefined): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new CliError(`--${name} takes true or false`);
}

function parseNonce(name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`--${name} takes a non-negative integer`);
  return Number(v);
}

interface DeviceRow {
  id: string;
  status: string;
  policy: { replay: string; allow_unsecured: boolean; require_encryption: boolean };
  last_seen: string | null;
  last_nonce: number | null;
  counters: { uploads: number };
  uses_fleet_key: boolean;
}

export function registerDeviceCommand(program: Command): void {
  const device = program.command('device').description('manage the device registry of a running server');

  addClientOptions(device.command('list').description('list devices').option('--json', 'print JSON')).action(
    guarded(async (o: Opts) => {
      const res = (await adminRequest(o, 'GET', '/api/devices')) as { devices: DeviceRow[] };
      if (o.json) return print(res);
      const rows = res.devices.map((d) =>
        [
          d.id,
          d.status,
          d.uses_fleet_key ? 'fleet' : 'own',
          d.policy.replay,
          String(d.counters.uploads),
          String(d.last_nonce ?? '-'),
          d.last_seen ?? '-',
        ].join('\t'),
      );
      process.stdout.write(
        `${['id', 'status', 'key', 'replay', 'uploads', 'nonce', 'last_seen'].join('\t')}\n`,
      );
      for (const r of rows) process.stdout.write(`${r}\n`);
    }),
  );

  addClientOptions(device.command('show <id>').description('show one device')).action(
    guarded(async (id: string, o: Opts) => print(await adminRequest(o, 'GET', `/api/devices/${enc(id)}`))),
  );

  addClientOptions(
    device
      .command('add <id>')
      .description('register a device (on the fleet key, or with --with-key a key of its own)')
      .option('--with-key', 'generate a per-device key (printed once)')
      .option('--allow-unsecured [bool]', 'accept bare uploads from it')
      .option('--require-encryption [bool]', 'refuse unencrypted envelopes')
      .option('--replay <mode>', 'strict | window:N')
      .option('--initial-nonce <n>', 'treat nonces up to n as used (default 10000)'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const body: Record<string, unknown> = { id };
      if (o.withKey) body.with_key = true;
      const allow = parseBool('allow-unsecured', o.allowUnsecured);
      if (allow !== undefined) body.allow_unsecured = allow;
      const enc2 = parseBool('require-encryption', o.requireEncryption);
      if (enc2 !== undefined) body.require_encryption = enc2;
      if (typeof o.replay === 'string') body.replay = o.replay;
      const nonce = parseNonce('initial-nonce', o.initialNonce);
      if (nonce !== undefined) body.initial_nonce = nonce;
      print(await adminRequest(o, 'POST', '/api/devices', body));
    }),
  );

  addClientOptions(
    device
      .command('policy <id>')
      .description('change a device policy')
      .option('--allow-unsecured <bool>', 'true | false')
      .option('--require-encryption <bool>', 'true | false')
      .option('--replay <mode>', 'strict | window:N'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const body: Record<string, unknown> = {};
      const allow = parseBool('allow-unsecured', o.allowUnsecured);
      if (allow !== undefined) body.allow_unsecured = allow;
      const req = parseBool('require-encryption', o.requireEncryption);
      if (req !== undefined) body.require_encryption = req;
      if (typeof o.replay === 'string') body.replay = o.replay;
      print(await adminRequest(o, 'PATCH', `/api/devices/${enc(id)}/policy`, body));
    }),
  );

  for (const action of ['disable', 'enable'] as const) {
    addClientOptions(
      device.command(`${action} <id>`).description(`${action} a device`).option('--reason <text>', 'why'),
    ).action(
      guarded(async (id: string, o: Opts) => {
        const body = typeof o.reason === 'string' ? { reason: o.reason } : {};
        print(await adminRequest(o, 'POST', `/api/devices/${enc(id)}/${action}`, body));
      }),
    );
  }

  addClientOptions(
    device
      .command('rotate-key <id>')
      .description('add a new key (the old one stays valid until the device uses the new one)')
      .option('--reason <text>', 'why'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const body = typeof o.reason === 'string' ? { reason: o.reason } : {};
      print(await adminRequest(o, 'POST', `/api/devices/${enc(id)}/keys`, body));
    }),
  );

  addClientOptions(
    device
      .command('retire-key <id> <kid>')
      .description('retire a key at once (e.g. compromised)')
      .option('--reason <text>', 'why'),
  ).action(
    guarded(async (id: string, kid: string, o: Opts) => {
      const body = typeof o.reason === 'string' ? { reason: o.reason } : {};
      print(await adminRequest(o, 'DELETE', `/api/devices/${enc(id)}/keys/${enc(kid)}`, body));
    }),
  );

  addClientOptions(
    device
      .command('replay-reset <id>')
      .description('re-arm the replay counter of a device whose nonce was wiped (audited)')
      .requiredOption('--reason <text>', 'why (recorded in the audit log)')
      .option('--to <n>', 'highest nonce to treat as used (default: accept the next authentic nonce)'),
  ).action(
    guarded(async (id: string, o: Opts) => {
      const body: Record<string, unknown> = { reason: o.reason };
      const to = parseNonce('to', o.to);
      if (to !== undefined) body.to = to;
      print(await adminRequest(o, 'POST', `/api/devices/${enc(id)}/replay-reset`, body));
    }),
  );
}
