/**
 * A private nginx running the reference configuration of deploy/nginx, for tests: the files are
 * copied into a temporary prefix with only the machine-specific parts replaced (the instances'
 * ports, the listen ports, the certificate, the snippet's path), each replacement checked, so a
 * change to the reference files is tested as it is shipped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { ROOT } from './server-process.js';
import { selfSignedCertificate } from './tls.js';

export const NGINX = '/usr/sbin/nginx';
const DEPLOY = path.join(ROOT, 'deploy/nginx');

/**
 * Whether tests needing nginx run: always under CI (where a missing binary must fail them),
 * elsewhere only when it is installed, with a visible notice when it is not.
 */
export function runNginxTests(): boolean {
  if (existsSync(NGINX) || process.env.CI) return true;
  process.stderr.write(
    `\nNOTICE: ${NGINX} is not installed: the load-balancer tests are SKIPPED (with CI=true they fail). Install it with: apt-get install nginx\n\n`,
  );
  return false;
}

/** `text` with each `[from, to]` replaced everywhere; a `from` that is not there is an error. */
function render(text: string, replacements: [string, string][]): string {
  let out = text;
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`deploy/nginx no longer contains "${from}"`);
    out = out.split(from).join(to);
  }
  return out;
}

export class PrivateNginx {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly exited: Promise<void>,
    readonly dir: string,
    /** Plain HTTP, as field devices connect. */
    readonly httpUrl: string,
    /** TLS, with a self-signed certificate. */
    readonly httpsUrl: string,
  ) {}

  static async start(upstreamPorts: [number, number]): Promise<PrivateNginx> {
    if (!existsSync(NGINX)) throw new Error(`${NGINX} is not installed (apt-get install nginx)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ecowatt-nginx-'));
    // Workers run as an unprivileged user when the master is root: they must reach the prefix.
    chmodSync(dir, 0o755);
    mkdirSync(path.join(dir, 'temp'), { mode: 0o777 });
    chmodSync(path.join(dir, 'temp'), 0o777);
    const [http, https] = [await freePort(), await freePort()];
    const { cert, key } = selfSignedCertificate(dir);
    writeFileSync(
      path.join(dir, 'ecowatt.conf'),
      render(readFileSync(path.join(DEPLOY, 'ecowatt.conf'), 'utf8'), [
        ['127.0.0.1:5001', `127.0.0.1:${upstreamPorts[0]}`],
        ['127.0.0.1:5002', `127.0.0.1:${upstreamPorts[1]}`],
        ['listen 80;', `listen 127.0.0.1:${http};`],
        ['listen [::]:80;\n', ''],
        ['listen 443 ssl http2;', `listen 127.0.0.1:${https} ssl http2;`],
        ['listen [::]:443 ssl http2;\n', ''],
        ['/etc/ssl/ecowatt/fullchain.pem', cert],
        ['/etc/ssl/ecowatt/privkey.pem', key],
        ['/etc/nginx/snippets/ecowatt-proxy.conf', path.join(dir, 'ecowatt-proxy.conf')],
      ]),
    );
    writeFileSync(
      path.join(dir, 'ecowatt-proxy.conf'),
      readFileSync(path.join(DEPLOY, 'ecowatt-proxy.conf'), 'utf8'),
    );
    const temp = path.join(dir, 'temp');
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${path.join(dir, 'nginx.pid')};`,
        `error_log ${path.join(dir, 'error.log')} warn;`,
        'events { worker_connections 4096; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (t) => `  ${t}_temp_path ${path.join(temp, t)};`,
        ),
        `  include ${path.join(dir, 'ecowatt.conf')};`,
        '}',
      ].join('\n'),
    );
    const proc = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const nginx = new PrivateNginx(
      proc,
      exited,
      dir,
      `http://127.0.0.1:${http}`,
      `https://127.0.0.1:${https}`,
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`nginx exited: ${err}`);
      const ok = await fetch(`${nginx.httpUrl}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return nginx;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`nginx did not answer through to an instance within 10 s: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGQUIT');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
