/**
 * `ecowatt user …` and `ecowatt apikey …`: operator accounts and API keys, through the admin API
 * of a running server (an admin's API key, or the admin token read from the data directory), or
 * with `--direct` straight in the data directory's database (to create the first admin, or to
 * recover when no admin can sign in; best with the server stopped).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { openStores } from '../../adapters/open-stores.js';
import { ApiError } from '../../model/errors.js';
import { OperatorService } from '../../operators/operator-service.js';
import { loadSettings } from '../../settings/load-settings.js';
import { SettingsError } from '../../settings/parsers.js';
import { addClientOptions, adminRequest, CliError, type ClientOptions, guarded } from '../admin-client.js';
import { readInput } from '../key-options.js';

type Opts = ClientOptions & {
  role?: string;
  passwordStdin?: boolean;
  direct?: boolean;
  databaseUrl?: string;
  json?: boolean;
  expiresDays?: string;
};

const enc = encodeURIComponent;

interface UserRow {
  name: string;
  role: string;
  enabled: boolean;
  last_sign_in_at: string | null;
  locked_until: string | null;
}

interface KeyRow {
  name: string;
  role: string;
  prefix: string;
  state: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** A password from stdin (`--password-stdin`: its first line), or typed twice at a hidden prompt. */
async function readPassword(o: Opts): Promise<string> {
  if (o.passwordStdin) {
    const line = (await readInput(undefined)).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (!line) throw new CliError('--password-stdin: stdin held no password');
    return line;
  }
  if (!process.stdin.isTTY) throw new CliError('no terminal to ask for the password: use --password-stdin');
  const first = await prompt('Password: ');
  const second = await prompt('Again: ');
  if (first !== second) throw new CliError('the two passwords differ');
  return first;
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string) => {
      // Echo the question once, never what is typed.
      if (!asked) {
        process.stderr.write(s);
        asked = true;
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/** Runs `work` on the data directory's own store (SQLite file, or `--database-url`). */
async function direct<T>(o: Opts, work: (service: OperatorService) => Promise<T>): Promise<T> {
  let settings: ReturnType<typeof loadSettings>;
  try {
    settings = loadSettings({
      overrides: {
        ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
        mqttEmbedded: false,
      },
    });
  } catch (err) {
    if (err instanceof SettingsError) throw new CliError(err.message);
    throw err;
  }
  const stores = await openStores(settings.storage, settings.mqtt);
  try {
    return await work(new OperatorService(stores.operators));
  } catch (err) {
    if (err instanceof ApiError) throw new CliError(`${err.code}: ${err.message}`);
    throw err;
  } finally {
    await stores.storage.close();
  }
}

const DIRECT_OPTIONS = (cmd: Command) =>
  cmd
    .option('--direct', "write straight into the data directory's database instead of calling a server")
    .option('--database-url <url>', 'with --direct: the PostgreSQL database (ECOWATT_DATABASE_URL)');

/** The actor of changes made with --direct. */
const DIRECT_ACTOR = 'cli';

export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('operator accounts: name, password, role');

  DIRECT_OPTIONS(
    addClientOptions(
      user
        .command('add <name>')
        .description('add an account (asks for the password twice, or reads it with --password-stdin)')
        .requiredOption('--role <role>', 'viewer, operator or admin')
        .option('--password-stdin', 'read the password from the first line of stdin'),
    ),
  ).action(
    guarded(async (name: string, o: Opts) => {
      const password = await readPassword(o);
      if (o.direct) {
        await direct(o, (s) => s.add({ name, role: o.role, password }, DIRECT_ACTOR));
      } else {
        await adminRequest(o, 'POST', '/api/users', { name, role: o.role, password });
      }
      process.stdout.write(`added ${name} (${o.role})\n`);
    }),
  );

  addClientOptions(user.command('list').description('list accounts').option('--json', 'print JSON')).action(
    guarded(async (o: Opts) => {
      const { users } = (await adminRequest(o, 'GET', '/api/users')) as { users: UserRow[] };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        return;
      }
      for (const u of users) {
        const state = u.enabled
          ? u.locked_until
            ? `locked until ${u.locked_until}`
            : 'enabled'
          : 'disabled';
        process.stdout.write(
          `${u.name}\t${u.role}\t${state}\tlast sign-in ${u.last_sign_in_at ?? 'never'}\n`,
        );
      }
    }),
  );

  DIRECT_OPTIONS(
    addClientOptions(
      user
        .command('passwd <name>')
        .description("set an account's password (its sessions end)")
        .option('--password-stdin', 'read the password from the first line of stdin'),
    ),
  ).action(
    guarded(async (name: string, o: Opts) => {
      const password = await readPassword(o);
      if (o.direct) await direct(o, (s) => s.setPassword(name, password, DIRECT_ACTOR));
      else await adminRequest(o, 'PUT', `/api/users/${enc(name)}/password`, { password });
      process.stdout.write(`password of ${name} changed; its sessions have ended\n`);
    }),
  );

  for (const action of ['disable', 'enable'] as const) {
    DIRECT_OPTIONS(
      addClientOptions(
        user
          .command(`${action} <name>`)
          .description(
            action === 'disable' ? 'stop an account signing in (its sessions end)' : 'allow it again',
          ),
      ),
    ).action(
      guarded(async (name: string, o: Opts) => {
        if (o.direct) await direct(o, (s) => s.setEnabled(name, action === 'enable', DIRECT_ACTOR));
        else await adminRequest(o, 'POST', `/api/users/${enc(name)}/${action}`);
        process.stdout.write(`${name} ${action}d\n`);
      }),
    );
  }

  addClientOptions(
    user
      .command('role <name>')
      .description("change an account's role")
      .requiredOption('--role <role>', 'viewer, operator or admin'),
  ).action(
    guarded(async (name: string, o: Opts) => {
      await adminRequest(o, 'PATCH', `/api/users/${enc(name)}`, { role: o.role });
      process.stdout.write(`${name} is now ${o.role}\n`);
    }),
  );
}

export function registerApiKeyCommand(program: Command): void {
  const apikey = program.command('apikey').description('API keys for scripts and integrations');

  addClientOptions(
    apikey
      .command('create <name>')
      .description('create a key (printed once: keep it)')
      .requiredOption('--role <role>', 'viewer, operator or admin')
      .option('--expires-days <n>', 'days until it stops working')
      .option('--json', 'print {"name", "role", "key"}'),
  ).action(
    guarded(async (name: string, o: Opts) => {
      let expiresDays: number | undefined;
      if (o.expiresDays !== undefined) {
        if (!/^\d{1,5}$/.test(o.expiresDays))
          throw new CliError('--expires-days takes a whole number of days');
        expiresDays = Number(o.expiresDays);
      }
      const created = (await adminRequest(o, 'POST', '/api/api-keys', {
        name,
        role: o.role,
        ...(expiresDays !== undefined ? { expires_days: expiresDays } : {}),
      })) as { name: string; role: string; key: string; api_key: { expires_at: string | null } };
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ name: created.name, role: created.role, key: created.key })}\n`,
        );
        return;
      }
      process.stdout.write(
        `${created.key}\n\nAPI key "${created.name}" (${created.role}${
          created.api_key.expires_at ? `, expires ${created.api_key.expires_at}` : ''
        }): shown only now. Send it as Authorization: Bearer <key>, or ECOWATT_API_KEY for this command.\n`,
      );
    }),
  );

  addClientOptions(
    apikey.command('list').description('list keys (never their secrets)').option('--json', 'print JSON'),
  ).action(
    guarded(async (o: Opts) => {
      const { api_keys: keys } = (await adminRequest(o, 'GET', '/api/api-keys')) as { api_keys: KeyRow[] };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
        return;
      }
      for (const k of keys) {
        process.stdout.write(
          `${k.name}\t${k.role}\t${k.prefix}…\t${k.state}\texpires ${k.expires_at ?? 'never'}\tlast used ${k.last_used_at ?? 'never'}\n`,
        );
      }
    }),
  );

  addClientOptions(apikey.command('revoke <name>').description('revoke a key at once')).action(
    guarded(async (name: string, o: Opts) => {
      await adminRequest(o, 'DELETE', `/api/api-keys/${enc(name)}`);
      process.stdout.write(`API key ${name} revoked\n`);
    }),
  );
}
