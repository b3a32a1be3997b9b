/** Shared pieces of the benchmarks: pre-sealed field uploads, child servers, autocannon runs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { FIELD_KEYS } from '../src/protocol/envelope-v1.js';
import { FieldDevice } from '../src/sim/field-device.js';

export interface Child {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startChild(entry: string, args: string[], env: Record<string, string>): Promise<Child> {
  const proc = spawn(process.execPath, [entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child did not start: ${err}`)), 20_000);
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`child exited ${code}: ${err}`)));
  });
  return {
    url,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/**
 * Uploads from `devices` field devices, round-robin so that one device's consecutive nonces are
 * `devices` requests apart (they arrive in order even at high concurrency).
 */
export function presealUploads(devices: number, perDevice: number, encrypt = false): string[] {
  return [...sealedUploads(devices, perDevice, encrypt)];
}

/** The same uploads one by one, for runs too long to hold them all in memory. */
export function* sealedUploads(devices: number, perDevice: number, encrypt = false): Generator<string> {
  const fleet = Array.from(
    { length: devices },
    (_, i) =>
      new FieldDevice({
        id: `bench-${i}`,
        keys: FIELD_KEYS,
        encrypt,
        pollIntervalMs: 2000,
        uploadIntervalMs: 10_000,
        profile: { ratedPowerW: 4000, noise: 0.05, seed: i + 1 },
        startTime: Date.UTC(2026, 5, 21, 12),
      }),
  );
  for (let k = 0; k < perDevice; k++) {
    for (const d of fleet) {
      d.advance();
      const u = d.prepareUpload();
      if (!u) throw new Error('no packet');
      d.uploadFinished(true);
      yield u.body;
    }
  }
}

export interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
  /**
   * CPU time per answered request, µs: the server process (all its threads) and this process (the
   * load generator). On two cores the two together bound the rate: 2 s of CPU per second.
   */
  cpu?: { server_us: number; load_generator_us: number };
}

/** CPU seconds a process has used so far (all threads), from /proc; `null` where there is none. */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Linux reports process times in USER_HZ ticks, 100 per second on every Linux ABI. */
const CLOCK_TICKS = 100;

export async function load(
  url: string,
  bodies: string[],
  opts: {
    seconds: number;
    connections: number;
    rate?: number;
    start?: number;
    wrap?: boolean;
    /** The server's process id, to account its CPU time. */
    pid?: number;
  },
): Promise<{ result: LoadResult; used: number }> {
  let i = opts.start ?? 0;
  const serverCpuBefore = processCpuSeconds(opts.pid);
  const ownCpuBefore = process.cpuUsage();
  const statuses: Record<string, number> = {};
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: `${url}/process`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: opts.connections,
        duration: opts.seconds,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
        requests: [
          {
            setupRequest: (req) => {
              // A route without replay protection may see the same upload twice.
              if (i >= bodies.length && opts.wrap) i = 0;
              if (i >= bodies.length) throw new Error('ran out of pre-sealed uploads: raise BENCH_UPLOADS');
              return { ...req, body: bodies[i++] };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
  instance?.on('response', (_client: unknown, statusCode: number) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
  });
  const r = await done;
  const serverCpuAfter = processCpuSeconds(opts.pid);
  const own = process.cpuUsage(ownCpuBefore);
  const ok = statuses['200'] ?? 0;
  const failed = Object.entries(statuses).reduce((n, [k, v]) => (k === '200' ? n : n + v), 0) + r.errors;
  const answered = Math.max(1, ok + failed);
  const cpu =
    serverCpuBefore !== null && serverCpuAfter !== null
      ? {
          server_us: Math.round(((serverCpuAfter - serverCpuBefore) * 1e6) / answered),
          load_generator_us: Math.round((own.user + own.system) / answered),
        }
      : undefined;
  return {
    used: i - (opts.start ?? 0),
    result: {
      ok,
      failed,
      seconds: r.duration,
      rate: ok / r.duration,
      p50: r.latency.p50,
      p99: r.latency.p99,
      statuses,
      ...(cpu ? { cpu } : {}),
    },
  };
}
