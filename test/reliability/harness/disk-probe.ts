/**
 * How long a durable write takes on this machine's disk right now: a separate process appends
 * 4 KiB to a file beside the server's data and fdatasyncs it every 50 ms, recording how long each
 * sync took. The server answers an upload only after its group commit is synced, so a disk that
 * stalls (a virtual disk shared with other machines, the page cache of an earlier test being
 * written back) stalls every answer meanwhile; a latency budget is only fair on top of that.
 */
import { ProbeProcess, type ProbeResult } from './sched-probe.js';

const SCRIPT = `
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(process.argv[1], 'disk-probe.bin');
const fd = fs.openSync(file, 'w');
const block = Buffer.alloc(4096, 7);
const took = [];
let written = 0;
const timer = setInterval(() => {
  const t0 = performance.now();
  // A bounded file: the probe measures syncs, not a growing file's allocation.
  if (written >= 64 * 1024 * 1024) written = 0;
  fs.writeSync(fd, block, 0, block.length, written);
  written += block.length;
  fs.fdatasyncSync(fd);
  took.push(performance.now() - t0);
}, 50);
process.stdin.on('end', () => {
  clearInterval(timer);
  fs.closeSync(fd);
  fs.rmSync(file, { force: true });
  took.sort((a, b) => a - b);
  const at = (p) => took[Math.min(took.length - 1, Math.floor(took.length * p))] ?? 0;
  process.stdout.write(JSON.stringify({ p50: at(0.5), p99: at(0.99), max: took[took.length - 1] ?? 0, samples: took.length }));
  process.exit(0);
});
process.stdin.resume();
`;

export class DiskProbe {
  private constructor(private readonly child: ProbeProcess) {}

  /** Probes the file system that holds `dir` (give the server's data directory). */
  static start(dir: string): DiskProbe {
    return new DiskProbe(ProbeProcess.spawn(SCRIPT, [dir]));
  }

  stop(): Promise<ProbeResult> {
    return this.child.stop();
  }
}
