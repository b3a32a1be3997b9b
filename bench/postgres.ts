/**
 * `BENCH_PROFILE=postgres npm run bench`: the real server on the PostgreSQL profile, first one
 * instance, then two instances on the same database (the load split between them by device, as a
 * load balancer with device affinity would), each phase in a fresh schema, and the SQLite profile
 * in the same run with the same uploads and load generator. Reports accepted uploads/s, p50/p99,
 * the CPU per accepted upload of the PostgreSQL server processes (from /proc, every process named
 * `postgres`) and of the instances, and the ratios the production profile is held to.
 * `BENCH_REPLAY_STORE=redis` puts the replay state in Redis (`BENCH_REDIS_URL`);
 * `BENCH_DATABASE_URL` names the database.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type Child, type LoadResult, load, presealUploads, processCpuSeconds, startChild } from './load.js';

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

/**
 * CPU seconds used so far by every process named `postgres` on this machine (the server and its
 * backends; the database is assumed to serve nothing else during the bench). A backend that ends
 * during a phase takes its time with it, so the instances keep their pools open throughout.
 */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== 'postgres') continue;
      total += processCpuSeconds(Number(entry)) ?? 0;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

/** A phase's result with the CPU it cost per accepted upload, µs. */
interface PhaseFigures extends LoadResult {
  postgres_cpu_us: number | null;
  instances_cpu_us: number;
}

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
  url: string | null,
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
        // `null`: the SQLite profile, for the comparison in the same run.
        ...(url === null
          ? { ECOWATT_SQLITE_SYNCHRONOUS: 'FULL', ECOWATT_MQTT_EMBEDDED: 'true' }
          : { ECOWATT_DATABASE_URL: url }),
        ...(url !== null && REPLAY === 'redis'
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
async function run(servers: Child[], bodies: string[], o: PostgresBenchOptions): Promise<PhaseFigures> {
  const parts = servers.map((_, i) => share(bodies, o.devices, i, servers.length));
  const per = Math.max(1, Math.floor(o.connections / servers.length));
  const warm = await Promise.all(
    servers.map((s, i) => load(s.url, parts[i], { seconds: 2, connections: per, start: 0 })),
  );
  const instancesCpu = () => servers.reduce((t, s) => t + (processCpuSeconds(s.proc.pid) ?? 0), 0);
  const pgBefore = postgresCpuSeconds();
  const nodeBefore = instancesCpu();
  const measured = await Promise.all(
    servers.map((s, i) =>
      load(s.url, parts[i], { seconds: o.seconds, connections: per, start: warm[i].used }),
    ),
  );
  const pgUsed = postgresCpuSeconds() - pgBefore;
  const nodeUsed = instancesCpu() - nodeBefore;
  const result = combine(measured.map((m) => m.result));
  const perUpload = (seconds: number) => Math.round((seconds * 1e6) / Math.max(1, result.ok));
  return { ...result, postgres_cpu_us: perUpload(pgUsed), instances_cpu_us: perUpload(nodeUsed) };
}

export async function runPostgresBench(o: PostgresBenchOptions): Promise<void> {
  o.log(`PostgreSQL profile (replay state: ${REPLAY}), pre-sealing field uploads for ${o.devices} devices …`);
  const perDevice = Math.ceil((o.uploadsPerSecondBudget * (o.seconds + 2)) / o.devices);
  const bodies = presealUploads(o.devices, perDevice);

  const measure = async (url: string | null, schema: string, n: number): Promise<PhaseFigures> => {
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
  };
  const show = (name: string, r: PhaseFigures) =>
    o.log(
      `${name}: ${r.rate.toFixed(0)} accepted uploads/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-200: ${r.failed}; ` +
        `CPU per accepted upload: PostgreSQL ${r.postgres_cpu_us} µs, instances ${r.instances_cpu_us} µs`,
    );
  // PostgreSQL is idle meanwhile: its CPU says nothing about this phase.
  const sqlite = { ...(await measure(null, 'sqlite', 1)), postgres_cpu_us: null };
  show('SQLite profile, 1 instance (same run)', sqlite);
  const one = await withSchema((url, schema) => measure(url, schema, 1));
  show('PostgreSQL, 1 instance', one);
  const two = await withSchema((url, schema) => measure(url, schema, 2));
  show('PostgreSQL, 2 instances', two);
  const vsSqlite = one.rate / sqlite.rate;
  const scaling = two.rate / one.rate;
  o.log('');
  o.log(
    `PostgreSQL CPU per accepted upload, 1 instance: ${one.postgres_cpu_us} µs (target ≤ 100 µs); 2 instances: ${two.postgres_cpu_us} µs`,
  );
  o.log(`1 PostgreSQL instance / SQLite profile: ${vsSqlite.toFixed(2)}× (target ≥ 0.8×)`);
  o.log(
    `2 instances / 1 instance: ${scaling.toFixed(2)}× (target ≥ 1.0×; ${os.cpus().length} cores shared with PostgreSQL and the load)`,
  );

  const report = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    profile: 'postgres',
    replay_store: REPLAY,
    devices: o.devices,
    connections: o.connections,
    seconds: o.seconds,
    sqlite_profile: sqlite,
    one_instance: one,
    two_instances: two,
    one_instance_vs_sqlite: Number(vsSqlite.toFixed(3)),
    scaling_ratio: Number(scaling.toFixed(3)),
  };
  const out = path.join(o.root, '.bench');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `ingest-postgres${REPLAY === 'redis' ? '-redis' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  o.log(`(written to ${path.relative(o.root, file)})`);
}
