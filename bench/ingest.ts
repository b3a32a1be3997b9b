/**
 * `npm run bench`: the real server (embedded defaults, durable SQLite) under pre-sealed field
 * uploads from many devices, against the durable floor (bench/durable-floor.ts) in the same run,
 * with the same uploads and the same load generator (wrk).
 * `BENCH_PROFILE=postgres`: the PostgreSQL profile instead, one and two instances (bench/postgres.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Child, sealedUploads, startChild } from './load.js';
import { type PhaseResult, runWrk, writeUploads, wrkAvailable } from './wrk.js';

const here = import.meta.dirname;
const root = path.resolve(here, '../..');
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const devices = Number(process.env.BENCH_DEVICES ?? 1000);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

if (process.env.BENCH_PROFILE === 'postgres') {
  // The production profile: one and two instances on PostgreSQL (bench/postgres.ts).
  const { runPostgresBench } = await import('./postgres.js');
  await runPostgresBench({ root, seconds, connections, devices, uploadsPerSecondBudget: 20_000, log });
  process.exit(0);
}

if (!wrkAvailable()) {
  log('npm run bench needs wrk, the load generator (Debian: apt-get install wrk).');
  process.exit(2);
}

/**
 * The phases, each run against EcoWatt Cloud and against the durable floor (bench/durable-floor.ts)
 * with the same uploads and the same load generator: keep-alive connections (as behind a load
 * balancer) at two concurrencies, and a new connection per upload (as the field firmware connects).
 */
const PHASES = [
  { connections, close: false },
  { connections: Number(process.env.BENCH_MANY_CONNECTIONS ?? 512), close: false },
  { connections, close: true },
];

log(`pre-sealing field uploads for ${devices} devices …`);
// Each server starts again from the first upload. Enough for the floor's keep-alive phases; the
// floor keeps no replay state, so if it runs out, it is sent the last upload again.
const perDevice = Math.ceil(Number(process.env.BENCH_UPLOADS ?? 16_000 * seconds * 2) / devices);
const work = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-bench-'));
const { file: uploads, count } = writeUploads(work, sealedUploads(devices, perDevice));
log(`${count} uploads ready`);

/** Runs every phase against a freshly started server; the uploads are consumed in order. */
async function measure(name: string, start: () => Promise<Child>): Promise<PhaseResult[]> {
  const server = await start();
  const pid = server.proc.pid;
  let used = 0;
  const results: PhaseResult[] = [];
  try {
    // Warm-up: JIT, page cache, connection set-up.
    used += (
      await runWrk({ url: server.url, uploads, start: used, seconds: 2, connections, close: false, pid })
    ).used;
    for (const phase of PHASES) {
      const r = await runWrk({ url: server.url, uploads, start: used, seconds, ...phase, pid });
      used += r.used;
      results.push(r.result);
      log(
        `  ${name}, ${phase.connections} connections${phase.close ? ', a new connection per upload' : ', keep-alive'}: ${r.result.rate} uploads/s, p50 ${r.result.p50_ms} ms, p99 ${r.result.p99_ms} ms, server CPU ${r.result.server_cpu_us} µs/upload, failed ${r.result.failed}`,
      );
    }
  } finally {
    await server.stop();
  }
  if (used > count && name !== 'durable floor')
    log(`  (ran out of uploads: raise BENCH_UPLOADS; later answers were replays)`);
  return results;
}

log('EcoWatt Cloud (embedded defaults, durable SQLite, rate limits off):');
const ours = await measure('EcoWatt Cloud', async () => {
  const dataDir = path.join(work, 'server');
  return startChild(path.join(root, 'dist/src/main.js'), [], {
    ECOWATT_HOST: '127.0.0.1',
    ECOWATT_PORT: '0',
    ECOWATT_DATA_DIR: dataDir,
    ECOWATT_LOG_LEVEL: 'warn',
    ECOWATT_SQLITE_SYNCHRONOUS: 'FULL',
    // One load generator stands for many devices on one address: limits would measure themselves.
    ECOWATT_RATE_LIMIT_SOURCE: 'off',
    ECOWATT_RATE_LIMIT_DEVICE: 'off',
  });
});
log('durable floor (parse, verify the HMAC, one SQLite row per upload in group commits):');
const floor = await measure('durable floor', async () => {
  const dataDir = path.join(work, 'floor');
  mkdirSync(dataDir, { recursive: true });
  return startChild(path.join(root, 'dist/bench/durable-floor.js'), [], { FLOOR_DATA_DIR: dataDir });
});
rmSync(work, { recursive: true, force: true });

const phases = PHASES.map((phase, k) => ({
  connections: phase.connections,
  new_connection_per_upload: phase.close,
  ecowatt: ours[k],
  durable_floor: floor[k],
  /** How many times the floor's CPU per upload we spend (the targets: ≤ 2.5 keep-alive, ≤ 1.3 per connection). */
  cpu_ratio: Number((ours[k].server_cpu_us / Math.max(1, floor[k].server_cpu_us)).toFixed(2)),
  rate_ratio: Number((ours[k].rate / Math.max(1, floor[k].rate)).toFixed(2)),
}));
const report = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  load_generator: 'wrk -t1',
  devices,
  seconds,
  phases,
};
log('');
log(
  'CPU per accepted upload against the durable floor (targets: ≤ 2.5× keep-alive, ≤ 1.3× a connection per upload):',
);
for (const p of phases) {
  log(
    `  ${p.connections} connections, ${p.new_connection_per_upload ? 'a new connection per upload' : 'keep-alive'}: ${p.ecowatt.server_cpu_us} µs vs ${p.durable_floor.server_cpu_us} µs = ${p.cpu_ratio}× (uploads/s ${p.ecowatt.rate} vs ${p.durable_floor.rate})`,
  );
}
const out = path.join(root, '.bench');
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'ingest.json'), `${JSON.stringify(report, null, 2)}\n`);
log(`(written to .bench/ingest.json)`);
