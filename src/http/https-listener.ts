/**
 * HTTPS next to plain HTTP: the same Fastify application answers on a TLS port (optionally
 * requiring client certificates), while field devices that cannot do TLS keep port 5001.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { SettingsError } from '../settings/parsers.js';
import type { TlsSettings } from '../settings/sections.js';

function read(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SettingsError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * HTTPS on `tls.port` of `host` when a certificate is set (load refused one without its key),
 * else `null`. With `tls.clientCa`, clients must present a certificate it signed.
 */
export async function listenHttps(
  app: FastifyInstance,
  tls: TlsSettings,
  host: string,
): Promise<{ server: Server; url: string } | null> {
  if (!tls.cert || !tls.key) return null;
  const server = createServer(
    {
      cert: read(tls.cert, 'ECOWATT_TLS_CERT'),
      key: read(tls.key, 'ECOWATT_TLS_KEY'),
      ...(tls.clientCa
        ? {
            ca: read(tls.clientCa, 'ECOWATT_TLS_CLIENT_CA'),
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
    server.listen(tls.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : tls.port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { server, url: `https://${shown}:${port}` };
}
