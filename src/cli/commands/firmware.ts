/** `ecowatt firmware add|list`: the firmware catalogue of a running server, per firmware generation. */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  addClientOptions,
  adminRequest,
  CliError,
  type ClientOptions,
  guarded,
  resolveToken,
} from '../admin-client.js';

type Opts = ClientOptions & Record<string, string | boolean | undefined>;

interface FirmwareRow {
  version: string;
  generation?: string;
  original_size: number;
  total_chunks: number;
  sha256: string;
  servable: boolean;
  created_at: string;
  notes: string | null;
}

const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};

/** Streams the file to `POST /api/firmware` (the server encrypts it as it arrives). */
async function upload(o: Opts, file: string, query: URLSearchParams): Promise<unknown> {
  try {
    await stat(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const base = (o.url ?? process.env.ECOWATT_URL ?? 'http://127.0.0.1:5001').replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}/api/firmware?${query}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${resolveToken(o)}`,
        'content-type': 'application/octet-stream',
      },
      body: await openAsBlob(file),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach ${base}: ${(err as Error).message} (is the server running? ecowatt serve)`,
    );
  }
  const text = await res.text();
  let json: { error?: string; message?: string } | null = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new CliError(`server answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new CliError(`${res.status} ${json?.error ?? ''}: ${json?.message ?? text}`);
  return json;
}

export function registerFirmwareCommand(program: Command): void {
  const fw = program.command('firmware').description('the firmware catalogue of a running server');

  addClientOptions(
    fw
      .command('add <file>')
      .description('encrypt, sign and catalogue a firmware image (ESP32 .bin)')
      .requiredOption('--version <x.y.z>', 'semantic version of the image')
      .option(
        '--generation <gen>',
        'firmware generation of the devices that will download it, whose keys prepare it: e84f720 | 1.3 (default e84f720)',
      )
      .option('--notes <text>', 'release notes')
      .option('--force', 'accept an image whose first byte is not the ESP32 magic 0xE9'),
  ).action(
    guarded(async (file: string, o: Opts) => {
      const q = new URLSearchParams({ version: String(o.version) });
      if (typeof o.generation === 'string') q.set('generation', o.generation);
      if (typeof o.notes === 'string') q.set('notes', o.notes);
      if (o.force === true) q.set('force', 'true');
      print(await upload(o, file, q));
    }),
  );

  addClientOptions(
    fw.command('list').description('list catalogued images').option('--json', 'print JSON'),
  ).action(
    guarded(async (o: Opts) => {
      const res = (await adminRequest(o, 'GET', '/api/firmware')) as {
        keys: { configured: boolean; key_id: string | null };
        key_sets?: Record<string, { configured: boolean; key_id: string | null }>;
        firmware: FirmwareRow[];
      };
      if (o.json) return print(res);
      const sets = res.key_sets ?? { e84f720: res.keys };
      for (const [g, k] of Object.entries(sets)) {
        const opt = g === 'e84f720' ? '' : ` --generation ${g}`;
        process.stdout.write(
          `keys ${g}: ${k.configured ? `key set ${k.key_id}` : `none (ecowatt keys generate${opt})`}\n`,
        );
      }
      process.stdout.write(
        `${['version', 'generation', 'size', 'chunks', 'sha256', 'servable', 'added'].join('\t')}\n`,
      );
      for (const f of res.firmware) {
        process.stdout.write(
          `${[f.version, f.generation ?? 'e84f720', f.original_size, f.total_chunks, f.sha256.slice(0, 16), f.servable ? 'yes' : 'no (other keys)', f.created_at].join('\t')}\n`,
        );
      }
    }),
  );
}
