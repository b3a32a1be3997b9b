/**
 * `--workers N`: N server processes on one machine sharing the listening port (Node's cluster
 * module). Worker processes are stateless, so this needs the shared-state profile: PostgreSQL for
 * storage and, when MQTT is on, an external broker (the embedded broker and the SQLite file
 * belong to one process); settings/validate-settings.ts refuses anything else. A worker that
 * dies is replaced.
 */
import cluster from 'node:cluster';

/** Runs the primary: forks `workers` workers and keeps them running until a signal stops them all. */
export function runPrimary(workers: number): void {
  let stopping = false;
  const restarts: number[] = [];
  const fork = () => cluster.fork();
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && now - restarts[0] > 60_000) restarts.shift();
    process.stderr.write(
      `ecowatt: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`,
    );
    // A worker that keeps dying (bad settings, port taken) must not spin forever.
    if (restarts.length > 5 * workers) {
      process.stderr.write('ecowatt: workers keep exiting; giving up\n');
      process.exit(1);
    }
    setTimeout(fork, 500);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    setTimeout(() => process.exit(1), 20_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGTERM'));
}
