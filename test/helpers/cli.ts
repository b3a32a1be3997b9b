/** Runs the real `ecowatt` command against a test server, as an operator would. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './server-process.js';

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ecowatt …args` with the server's URL and admin token in the environment; never throws on exit codes. */
export async function ecowatt(
  server: { url: string; adminToken: string } | undefined,
  ...args: string[]
): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), ...args], {
      env: server
        ? { ...process.env, ECOWATT_URL: server.url, ECOWATT_ADMIN_TOKEN: server.adminToken }
        : process.env,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
