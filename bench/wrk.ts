/**
 * Load from wrk (Debian's `wrk`, a C load generator: it leaves the server most of the CPU), fed
 * with pre-sealed uploads in order from a file, each used once. With `close`, every request asks
 * for `Connection: close`, so each upload opens its own connection as the field ESP32's
 * `HTTPClient` does (`begin`/`end` per request).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { processCpuSeconds } from './load.js';

export interface PhaseResult {
  connections: number;
  newConnectionPerUpload: boolean;
  seconds: number;
  /** Uploads answered 200 per second. */
  rate: number;
  accepted: number;
  /** Answers other than 200, plus connection errors and timeouts. */
  failed: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU of the server process (all threads) per accepted upload. */
  server_cpu_us: number;
}

const SCRIPT = `
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  -- Past the end, uploads are sent again from the first: the floor keeps no replay state, and
  -- EcoWatt Cloud refuses them (counted as failed).
  i = tonumber(args[2]) % #bodies
  close = args[3] == "close"
end
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  local headers = { ["Content-Type"] = "application/json" }
  if close then headers["Connection"] = "close" end
  return wrk.format("POST", "/process", headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50)))
  io.write(string.format("P99 %d\\n", latency:percentile(99)))
end
`;

export function wrkAvailable(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk prints its version and exits 1.
    return (err as { status?: number }).status === 1;
  }
}

/** Writes the uploads, one per line, for `runWrk`; returns the file and how many it holds. */
export function writeUploads(dir: string, bodies: Iterable<string>): { file: string; count: number } {
  const file = path.join(dir, 'uploads.txt');
  const fd = openSync(file, 'w');
  let count = 0;
  let batch: string[] = [];
  for (const body of bodies) {
    batch.push(body);
    count++;
    if (batch.length === 10_000) {
      writeSync(fd, `${batch.join('\n')}\n`);
      batch = [];
    }
  }
  if (batch.length > 0) writeSync(fd, `${batch.join('\n')}\n`);
  closeSync(fd);
  writeFileSync(path.join(dir, 'uploads.lua'), SCRIPT);
  return { file, count };
}

export async function runWrk(opts: {
  url: string;
  uploads: string;
  /** Uploads already used (skipped). */
  start: number;
  seconds: number;
  connections: number;
  close: boolean;
  pid: number | undefined;
}): Promise<{ result: PhaseResult; used: number }> {
  const cpuBefore = processCpuSeconds(opts.pid);
  const script = path.join(path.dirname(opts.uploads), 'uploads.lua');
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '10s', '-s', script];
  args.push(`${opts.url}/process`, '--', opts.uploads, String(opts.start), opts.close ? 'close' : 'keep');
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const cpuAfter = processCpuSeconds(opts.pid);
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  const p99 = /P99 (\d+)/.exec(out);
  if (!m || !p99) throw new Error(`cannot read wrk's result: ${out}`);
  const [requests, durationUs, connect, read, write, status, timeout, p50Us] = m.slice(1).map(Number);
  const failed = status + connect + read + write + timeout;
  const accepted = Math.max(0, requests - status);
  const seconds = durationUs / 1e6;
  return {
    // In-flight requests at the end may have reached the server: the next phase skips past them.
    used: requests + opts.connections,
    result: {
      connections: opts.connections,
      newConnectionPerUpload: opts.close,
      seconds: Number(seconds.toFixed(2)),
      rate: Math.round(accepted / seconds),
      accepted,
      failed,
      p50_ms: Number((p50Us / 1000).toFixed(2)),
      p99_ms: Number((Number(p99[1]) / 1000).toFixed(2)),
      server_cpu_us:
        cpuBefore !== null && cpuAfter !== null
          ? Math.round(((cpuAfter - cpuBefore) * 1e6) / Math.max(1, accepted))
          : 0,
    },
  };
}
