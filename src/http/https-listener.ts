/**
 * HTTPS next to plain HTTP: the same Fastify application answers on a TLS port (optionally
 * requiring client certificates), while field devices that cannot do TLS keep port 5001.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { SettingsError } from '../settings.js';

export interface HttpsOptions {
  port: number;
  host: string;
  certFile: string;
  keyFile: string;
  /** CA bundle: when given, clients must present a certificate it signed. */
  clientCaFile: string | undefined;
}

function read(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SettingsError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

export async function listenHttps(
  app: FastifyInstance,
  opts: HttpsOptions,
): Promise<{ server: Server; url: string }> {
  const server = createServer(
    {
      cert: read(opts.certFile, 'ECOWATT_TLS_CERT'),
      key: read(opts.keyFile, 'ECOWATT_TLS_KEY'),
      ...(opts.clientCaFile
        ? {
            ca: read(opts.clientCaFile, 'ECOWATT_TLS_CLIENT_CA'),
            requestCert: true,
            rejectUnauthorized: true,
          }
        : {}),
      headersTimeout: app.server.headersTimeout,
      requestTimeout: app.server.requestTimeout,
    },
    (req, res) => app.routing(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return { server, url: `https://${host}:${port}` };
}
