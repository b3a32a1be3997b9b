/**
 * How late an idle process gets to run on this machine right now: a separate process wakes every
 * 10 ms and records how late each wake-up was. The suite shares two cores with whatever else the
 * machine runs; a latency budget for the server is only fair on top of that delay, so cases
 * state it and add it to their latency budgets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const SCRIPT = `
const lags = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  lags.push(now - last - 10);
  last = now;
}, 10);
process.stdin.on('end', () => {
  lags.sort((a, b) => a - b);
  const at = (p) => lags[Math.min(lags.length - 1, Math.floor(lags.length * p))] ?? 0;
  process.stdout.write(JSON.stringify({ p50: at(0.5), p99: at(0.99), max: lags[lags.length - 1] ?? 0, samples: lags.length }));
  process.exit(0);
});
process.stdin.resume();
`;

export interface ProbeResult {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export class SchedulingProbe {
  private constructor(private readonly child: ProbeProcess) {}

  static start(): SchedulingProbe {
    return new SchedulingProbe(ProbeProcess.spawn(SCRIPT));
  }

  stop(): Promise<ProbeResult> {
    return this.child.stop();
  }
}

/**
 * A probe script in a child process of its own (so the test's own event loop never delays it):
 * it measures until its stdin ends, then prints its ProbeResult as JSON.
 */
export class ProbeProcess {
  private constructor(private readonly child: ChildProcess) {}

  static spawn(script: string, args: string[] = []): ProbeProcess {
    return new ProbeProcess(
      spawn(process.execPath, ['-e', script, ...args], { stdio: ['pipe', 'pipe', 'ignore'] }),
    );
  }

  stop(): Promise<ProbeResult> {
    return new Promise((resolve) => {
      let out = '';
      this.child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      this.child.once('exit', () => {
        try {
          resolve(JSON.parse(out) as ProbeResult);
        } catch {
          resolve({ p50: 0, p99: 0, max: 0, samples: 0 });
        }
      });
      this.child.stdin?.end();
    });
  }
}

/** Share of the last minute in which some runnable task waited for a CPU (Linux PSI), in %. */
export function cpuPressure(): number | undefined {
  try {
    const m = /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
