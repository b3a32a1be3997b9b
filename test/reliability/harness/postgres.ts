/**
 * A private PostgreSQL 15 cluster for the fault and concurrency cases: its own data directory
 * and port, run as the `postgres` user (the server refuses to run as root), so stopping it never
 * touches the machine's own database service.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../helpers/free-port.js';

const BIN = '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Why a private cluster cannot be made here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  if (!existsSync(path.join(BIN, 'initdb'))) return `${BIN}/initdb is not installed`;
  if (process.getuid?.() !== 0) return 'not root: cannot run initdb as the postgres user';
  if (!postgresIds()) return 'there is no postgres user';
  return undefined;
}

export class PrivatePostgres {
  private running = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const why = privatePostgresUnavailable();
    if (why) throw new Error(why);
    const ids = postgresIds() as { uid: number; gid: number };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-rel-pg-'));
    chmodSync(dir, 0o700);
    chownSync(dir, ids.uid, ids.gid);
    const pg = new PrivatePostgres(dir, await freePort());
    await pg.asPostgres('initdb', [
      '-D',
      pg.dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await pg.start();
    return pg;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Asynchronous, so that a case's own clients keep running while the cluster starts or stops. */
  private async asPostgres(tool: string, args: string[]): Promise<void> {
    await run('runuser', ['-u', 'postgres', '--', path.join(BIN, tool), ...args]);
  }

  /** Starts (again) on the same port and data; waits until it accepts connections. */
  async start(): Promise<void> {
    await this.asPostgres('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dir, 'postgres.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.running = true;
  }

  /** `fast`: disconnect clients and shut down cleanly; `immediate`: as a crash would. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) return;
    await this.asPostgres('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
    this.running = false;
  }

  async dispose(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
