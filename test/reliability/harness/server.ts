/**
 * The real server as a child process for the reliability cases: logs go to a file in its data
 * directory (a soak writes far more than a test should hold in memory), its memory can be
 * sampled, and it can be killed with SIGKILL and started again on the same port and data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './profile.js';

const ENTRY = path.join(ROOT, 'dist/src/main.js');

export interface ServerOptions {
  dataDir?: string;
  /** 0 = any free port; give the previous port to restart "the same" server. */
  port?: number;
  env?: Record<string, string>;
  logLevel?: 'info' | 'warn' | 'error' | 'fatal';
}

export function tempDir(prefix = 'ecowatt-rel-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export class ServerProcess {
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly port: number,
    readonly adminToken: string,
    readonly dataDir: string,
    readonly logFile: string,
    private readonly opts: ServerOptions,
  ) {
    this.exited = new Promise((resolve) => {
      if (proc.exitCode !== null) resolve(proc.exitCode);
      proc.once('exit', (code) => resolve(code));
    });
    this.exited.then((code) => {
      this.exitCode = code;
    });
  }

  static async start(opts: ServerOptions = {}): Promise<ServerProcess> {
    const ownsDataDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? tempDir();
    const logFile = path.join(os.tmpdir(), `ecowatt-rel-${process.pid}-${Date.now()}.log`);
    const log = openSync(logFile, 'a');
    const proc = spawn(process.execPath, [ENTRY], {
      cwd: ROOT,
      env: {
        ...process.env,
        ECOWATT_HOST: '127.0.0.1',
        ECOWATT_PORT: String(opts.port ?? 0),
        ECOWATT_DATA_DIR: dataDir,
        ECOWATT_LOG_LEVEL: opts.logLevel ?? 'warn',
        // Never the machine's broker on 1883.
        ECOWATT_MQTT_PORT: '0',
        // Fixed so a restarted server opens the device keys the previous one sealed.
        ECOWATT_MASTER_KEY: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
        ...opts.env,
      },
      stdio: ['ignore', log, 'pipe'],
    });
    closeSync(log);
    let err = '';
    const started = await new Promise<{ port: number; token: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start within 30 s:\n${err}`)), 30_000);
      proc.stderr?.on('data', (d: Buffer) => {
        // Only the start-up banner matters; later stderr is rare and kept short.
        if (err.length < 64 * 1024) err += d.toString();
        const port = /listening on http:\/\/[^:]+:(\d+)/.exec(err);
        const token = /admin token \([^)]*\): (\S+)/.exec(err);
        if (port && token) {
          clearTimeout(timer);
          resolve({ port: Number(port[1]), token: token[1] });
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} during start-up:\n${err}`));
      });
    });
    const server = new ServerProcess(
      proc,
      `http://127.0.0.1:${started.port}`,
      started.port,
      started.token,
      dataDir,
      logFile,
      opts,
    );
    server.ownsDataDir = ownsDataDir;
    return server;
  }

  /** A data directory this object made (not one a case passed in to restart on). */
  private ownsDataDir = false;

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.exitCode === undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resident memory of the server process, MiB (undefined once it is gone). */
  rssMiB(): number | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      return kb ? Number(kb[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last `bytes` of the server's log, for failure messages. */
  logTail(bytes = 4000): string {
    try {
      const size = statSync(this.logFile).size;
      const fd = openSync(this.logFile, 'r');
      try {
        const buf = Buffer.alloc(Math.min(bytes, size));
        readSync(fd, buf, 0, buf.length, size - buf.length);
        return buf.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return '';
    }
  }

  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /**
   * SIGTERM, then SIGKILL if it has not exited after `graceMs`. A clean exit removes the log and
   * the data directory this object made; anything else keeps them for the investigation (and
   * `RELIABILITY_KEEP_LOGS` keeps them always).
   */
  async stop(graceMs = 15_000): Promise<number | null> {
    let code = this.exitCode ?? null;
    if (this.alive) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
      code = await this.exited;
      clearTimeout(timer);
    }
    if (code === 0 && !process.env.RELIABILITY_KEEP_LOGS) {
      rmSync(this.logFile, { force: true });
      if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
    }
    return code;
  }

  /** The same data directory and port, as an operator's restart would. */
  async restart(): Promise<ServerProcess> {
    await this.kill9();
    return ServerProcess.start({ ...this.opts, dataDir: this.dataDir, port: this.port });
  }

  async admin<T = unknown>(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; json: T }> {
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as T };
  }
}

/** Samples a server's RSS every `everyMs` until stopped. */
export class MemorySampler {
  readonly samples: { t: number; rssMiB: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();

  constructor(
    private readonly server: () => ServerProcess,
    private readonly everyMs = 1000,
  ) {}

  start(): this {
    const take = () => {
      const rss = this.server().rssMiB();
      if (rss !== undefined) this.samples.push({ t: (performance.now() - this.t0) / 1000, rssMiB: rss });
    };
    take();
    this.timer = setInterval(take, this.everyMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get maxMiB(): number {
    return this.samples.reduce((m, s) => Math.max(m, s.rssMiB), 0);
  }
}
