/**
 * A request as a field device makes it: JSON content type (even on a GET), no credentials, the
 * connection closed after the answer, from a chosen local address. Every 127.x address is this
 * machine, so a test can make the server see another source than the device's uploads.
 */
import http from 'node:http';
import { expect } from 'vitest';
import { FIELD_KEYS } from '../../src/protocol/envelope-v1.js';
import { sealedUpload13 } from '../../src/sim/gen13-uploader.js';

export interface DeviceAnswer {
  status: number;
  json: any;
  raw: string;
  headers: http.IncomingHttpHeaders;
}

export function deviceRequest(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  opts: { from?: string; headers?: Record<string, string> } = {},
): Promise<DeviceAnswer> {
  const url = new URL(route, base);
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        localAddress: opts.from ?? '127.0.0.1',
        headers: {
          'content-type': 'application/json',
          connection: 'close',
          ...(text !== undefined ? { 'content-length': Buffer.byteLength(text) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          raw += d;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(raw);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, raw, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * Sealed 1.3 uploads (`POST /aggregated/<id>`) on the fleet key, each with the device's next
 * nonce: what authenticates a device and its address before its bare control requests. `base` is
 * read at each call, the server being started in `beforeAll`.
 */
export function authenticatingUploads13(base: () => string): (id: string) => Promise<void> {
  const nonces = new Map<string, number>();
  return async (id) => {
    const nonce = (nonces.get(id) ?? 11_000) + 1;
    nonces.set(id, nonce);
    const body = sealedUpload13(id, nonce, FIELD_KEYS.hmacKey);
    const res = await deviceRequest(base(), 'POST', `/aggregated/${id}`, body);
    expect(res.status, res.raw).toBe(200);
  };
}
