/**
 * A private Mosquitto for tests: its own generated configuration, a free loopback port and a
 * persistence directory, so it can be stopped and started again with its QoS 1 sessions intact.
 * The machine's own Mosquitto (port 1883) is never touched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export function mosquittoInstalled(): boolean {
  return existsSync(MOSQUITTO);
}

/**
 * Whether tests needing Mosquitto run: always under CI (where a missing binary must fail them),
 * elsewhere only when it is installed, with a visible notice when it is not.
 */
export function runMosquittoTests(): boolean {
  if (mosquittoInstalled() || process.env.CI) return true;
  process.stderr.write(
    `\nNOTICE: ${MOSQUITTO} is not installed: the MQTT tests against Mosquitto are SKIPPED (with CI=true they fail). Install it with: apt-get install mosquitto\n\n`,
  );
  return false;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class PrivateMosquitto {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly conf: string,
  ) {}

  static async start(): Promise<PrivateMosquitto> {
    if (!mosquittoInstalled()) throw new Error(`${MOSQUITTO} is not installed (apt-get install mosquitto)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-mosquitto-'));
    const port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        // As root Mosquitto would switch to its own user, which cannot write this directory.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'autosave_interval 1',
        // A subscriber catching up after an outage may have many messages queued.
        'max_queued_messages 0',
        `log_dest file ${path.join(dir, 'mosquitto.log')}`,
        '',
      ].join('\n'),
    );
    const m = new PrivateMosquitto(port, dir, conf);
    await m.launch();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  log(): string {
    try {
      return readFileSync(path.join(this.dir, 'mosquitto.log'), 'utf8');
    } catch {
      return '';
    }
  }

  private async launch(): Promise<void> {
    const proc = spawn(MOSQUITTO, ['-c', this.conf], { stdio: 'ignore' });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(`mosquitto did not start on port ${this.port}:\n${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM: Mosquitto saves its sessions and queued messages before exiting. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    proc.kill('SIGTERM');
    await this.exited;
  }

  /** Again on the same port with the same persistence directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
