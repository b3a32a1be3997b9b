/**
 * `BENCH_PROFILE=postgres npm run bench`: the real server on the PostgreSQL profile, first one
 * instance, then two instances on the same database (the load split between them by device, as a
 * load balancer with device affinity would), each phase in a fresh schema. Reports accepted
 * uploads/s and the scaling ratio from one instance to two. `BENCH_REPLAY_STORE=redis` puts the
 * replay state in Redis (`BENCH_REDIS_URL`); `BENCH_DATABASE_URL` names the database.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type Child, type LoadResult, load, presealUploads, startChild } from './load.js';

export interface PostgresBenchOptions {
  root: string;
  seconds: number;
  connections: number;
  devices: number;
  uploadsPerSecondBudget: number;
  log: (line: string) => void;
}

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPLAY = process.env.BENCH_REPLAY_STORE === 'redis' ? 'redis' : 'database';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function withSchema<T>(work: (url: string, schema: string) => Promise<T>): Promise<T> {
  const schema = `ecowatt_bench_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE SCHEMA ${schema}`);
  try {
    const options = encodeURIComponent(`-c search_path=${schema}`);
    return await work(`${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}options=${options}`, schema);
  } finally {
    await admin(`DROP SCHEMA ${schema} CASCADE`);
  }
}

async function startServers(
  root: string,
  url: string,
  schema: string,
  dirs: readonly string[],
): Promise<Child[]> {
  // One after the other: the first applies the migrations.
  const servers: Child[] = [];
  for (const dir of dirs) {
    servers.push(
      await startChild(path.join(root, 'dist/src/main.js'), [], {
        ECOWATT_HOST: '127.0.0.1',
        ECOWATT_PORT: '0',
        ECOWATT_DATA_DIR: dir,
        ECOWATT_LOG_LEVEL: 'warn',
        ECOWATT_MQTT_PORT: '0',
        // One load generator address stands for a fleet of devices.
        ECOWATT_RATE_LIMIT_SOURCE: 'off',
        ECOWATT_RATE_LIMIT_DEVICE: 'off',
        ECOWATT_DATABASE_URL: url,
        ...(REPLAY === 'redis'
          ? {
              ECOWATT_REPLAY_STORE: 'redis',
              ECOWATT_REDIS_URL: REDIS_URL,
              ECOWATT_REDIS_KEY_PREFIX: `${schema}:`,
            }
          : {}),
      }),
    );
  }
  return servers;
}

/** The uploads of every `parts`-th device starting at `part`, in their original order. */
function share(bodies: string[], devices: number, part: number, parts: number): string[] {
  return bodies.filter((_, i) => (i % devices) % parts === part);
}

function combine(results: LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    ok: results.reduce((n, r) => n + r.ok, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
    rate: results.reduce((n, r) => n + r.rate, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    statuses,
  };
}

/** Warm-up, then a measured run of every server at once, each on its share of the devices. */
async function run(servers: Child[], bodies: string[], o: PostgresBenchOptions): Promise<LoadResult> {
  const parts = servers.map((_, i) => share(bodies, o.devices, i, servers.length));
  const per = Math.max(1, Math.floor(o.connections / servers.length));
  const warm = await Promise.all(
    servers.map((s, i) => load(s.url, parts[i], { seconds: 2, connections: per, start: 0 })),
  );
  const measured = await Promise.all(
    servers.map((s, i) =>
      load(s.url, parts[i], { seconds: o.seconds, connections: per, start: warm[i].used }),
    ),
  );
  return combine(measured.map((m) => m.result));
}

export async function runPostgresBench(o: PostgresBenchOptions): Promise<void> {
  o.log(`PostgreSQL profile (replay state: ${REPLAY}), pre-sealing field uploads for ${o.devices} devices …`);
  const perDevice = Math.ceil((o.uploadsPerSecondBudget * (o.seconds + 2)) / o.devices);
  const bodies = presealUploads(o.devices, perDevice);

  const phase = (n: number) =>
    withSchema(async (url, schema) => {
      const dirs = Array.from({ length: n }, () => mkdtempSync(path.join(os.tmpdir(), 'ecowatt-bench-')));
      try {
        const servers = await startServers(o.root, url, schema, dirs);
        try {
          return await run(servers, bodies, o);
        } finally {
          await Promise.all(servers.map((s) => s.stop()));
        }
      } finally {
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      }
    });
  const one = await phase(1);
  o.log(
    `1 instance:  ${one.rate.toFixed(0)} accepted uploads/s, p50 ${one.p50} ms, p99 ${one.p99} ms, non-200: ${one.failed}`,
  );
  const two = await phase(2);
  o.log(
    `2 instances: ${two.rate.toFixed(0)} accepted uploads/s, p50 ${two.p50} ms, p99 ${two.p99} ms, non-200: ${two.failed}`,
  );
  const ratio = two.rate / one.rate;
  o.log(
    `scaling 1 → 2 instances: ${ratio.toFixed(2)} (${os.cpus().length} cores shared with PostgreSQL and the load)`,
  );

  const report = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    profile: 'postgres',
    replay_store: REPLAY,
    devices: o.devices,
    connections: o.connections,
    seconds: o.seconds,
    one_instance: one,
    two_instances: two,
    scaling_ratio: Number(ratio.toFixed(3)),
  };
  const out = path.join(o.root, '.bench');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `ingest-postgres${REPLAY === 'redis' ? '-redis' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  o.log(`(written to ${path.relative(o.root, file)})`);
}
