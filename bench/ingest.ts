/**
 * `npm run bench`: the real server (embedded defaults, durable SQLite) under pre-sealed field
 * uploads from many devices, against a bare parse-and-verify Fastify route in the same run.
 * `BENCH_PROFILE=postgres`: the PostgreSQL profile instead, one and two instances (bench/postgres.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load, presealUploads, startChild } from './load.js';

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

log(`pre-sealing field uploads for ${devices} devices …`);
const perDevice = Math.ceil(Number(process.env.BENCH_UPLOADS ?? 20_000 * seconds) / devices);
const bodies = presealUploads(devices, perDevice);
log(`${bodies.length} uploads ready (${Math.round(bodies[0].length)} bytes each)`);

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-bench-'));
const server = await startChild(path.join(root, 'dist/src/main.js'), [], {
  ECOWATT_HOST: '127.0.0.1',
  ECOWATT_PORT: '0',
  ECOWATT_DATA_DIR: dataDir,
  ECOWATT_LOG_LEVEL: 'warn',
  ECOWATT_SQLITE_SYNCHRONOUS: 'FULL',
  // One load generator stands for many devices on one address: limits would measure themselves.
  ECOWATT_RATE_LIMIT_SOURCE: 'off',
  ECOWATT_RATE_LIMIT_DEVICE: 'off',
});
let used = 0;
// Warm-up: JIT, page cache, connection set-up.
used += (await load(server.url, bodies, { seconds: 2, connections, start: used })).used;
const pid = server.proc.pid;
const max = await load(server.url, bodies, { seconds, connections, start: used, pid });
used += max.used;
const target = Math.round(max.result.rate * 0.7);
const steady = await load(server.url, bodies, { seconds, connections, rate: target, start: used, pid });
used += steady.used;
await server.stop();
rmSync(dataDir, { recursive: true, force: true });

const bare = await startChild(path.join(root, 'dist/bench/bare-server.js'), [], {});
await load(bare.url, bodies, { seconds: 2, connections, wrap: true });
const bareMax = await load(bare.url, bodies, { seconds, connections, wrap: true, pid: bare.proc.pid });
await bare.stop();

const ratio = max.result.rate / bareMax.result.rate;
const report = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  devices,
  connections,
  seconds,
  server: max.result,
  server_at_70_percent: { target_rate: target, ...steady.result },
  bare_route: bareMax.result,
  ratio_to_bare: Number(ratio.toFixed(3)),
};
log('');
log(
  `EcoWatt /process (durable, synchronous=FULL): ${max.result.rate.toFixed(0)} accepted uploads/s, p50 ${max.result.p50} ms, p99 ${max.result.p99} ms, non-200: ${max.result.failed}`,
);
log(
  `  at 70 % (${target}/s): ${steady.result.rate.toFixed(0)} accepted/s, p50 ${steady.result.p50} ms, p99 ${steady.result.p99} ms, non-200: ${steady.result.failed}`,
);
log(
  `bare parse+HMAC route: ${bareMax.result.rate.toFixed(0)} req/s, p50 ${bareMax.result.p50} ms, p99 ${bareMax.result.p99} ms`,
);
log(`ratio to bare route: ${ratio.toFixed(3)}`);
const cpuLine = (name: string, r: typeof max.result) =>
  r.cpu
    ? log(
        `  CPU per request, ${name}: server ${r.cpu.server_us} µs, load generator ${r.cpu.load_generator_us} µs`,
      )
    : undefined;
cpuLine('EcoWatt /process', max.result);
cpuLine('bare route', bareMax.result);
const out = path.join(root, '.bench');
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'ingest.json'), `${JSON.stringify(report, null, 2)}\n`);
log(`(written to .bench/ingest.json)`);
